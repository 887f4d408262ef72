"""The runner: every construct, retries, timeouts, on_error, caps, cancel, resume."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from directory.models import DirectoryEvent, User
from executions.claims import take
from executions.models import Execution
from executions.runner import RetryPolicy, Runner
from executions.tasks import requeue_stale, run_execution
from tests.executions.conftest import WorkerDied

pytestmark = pytest.mark.django_db


def _steps(execution):
    return [(s.path, s.status, s.skip_reason) for s in execution.steps.order_by("sequence")]


def test_calls_run_in_order_and_record_input_output_and_events(make_workflow, run, ann):
    workflow = make_workflow(
        [
            {"title": {"call": "user.update", "with": {"user": "{{ input.email }}", "job_title": "AE"}}},
            {"dept": {"call": "user.update", "with": {"user": "{{ steps.title.output.id }}", "department": "Eng"}}},
        ],
        input_schema={"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}},
    )
    execution = run(workflow, {"email": "ann@example.com"})
    assert execution.status == "succeeded", execution.error
    assert _steps(execution) == [("do[0].title", "succeeded", ""), ("do[1].dept", "succeeded", "")]
    first = execution.steps.get(name="title")
    assert first.input == {"user": "ann@example.com", "job_title": "AE"}
    assert first.output["changes"] == ["job_title"] and first.attempts == 1
    ann.refresh_from_db()
    assert (ann.job_title, ann.department) == ("AE", "Eng")
    event = DirectoryEvent.objects.filter(type="user.updated").order_by("id").last()
    assert (event.actor_type, event.caused_by_execution_id, event.depth) == ("execution", execution.pk, 1)


def test_switch_takes_first_matching_case_and_records_others_as_not_taken(make_workflow, run, ann):
    workflow = make_workflow(
        [
            {
                "route": {
                    "switch": [
                        {
                            "eng": {
                                "when": "{{ input.dept == 'Eng' }}",
                                "do": [{"a": {"call": "test.big", "with": {"size": 1}}}],
                            }
                        },
                        {
                            "sales": {
                                "when": {"left": "{{ input.dept }}", "op": "eq", "right": "Sales"},
                                "do": [{"b": {"call": "test.big", "with": {"size": 2}}}],
                            }
                        },
                        {
                            "sales_too": {
                                "when": "input.dept == 'Sales'",
                                "do": [{"c": {"call": "test.big", "with": {"size": 3}}}],
                            }
                        },
                        {"default": {"do": [{"d": {"call": "test.big", "with": {"size": 4}}}]}},
                    ]
                }
            }
        ]
    )
    execution = run(workflow, {"dept": "Sales"})
    assert execution.status == "succeeded", execution.error
    assert _steps(execution) == [
        ("do[0].route", "succeeded", ""),
        ("do[0].route.switch[0].eng.do[0].a", "skipped", "branch_not_taken"),
        ("do[0].route.switch[2].sales_too.do[0].c", "skipped", "branch_not_taken"),
        ("do[0].route.switch[3].default.do[0].d", "skipped", "branch_not_taken"),
        ("do[0].route.switch[1].sales.do[0].b", "succeeded", ""),
    ]
    assert execution.steps.get(name="route").output == {"case": "sales"}
    assert run(workflow, {"dept": "Legal"}).steps.get(name="route").output == {"case": "default"}


def test_if_guard_false_is_recorded_as_skipped_and_not_run(make_workflow, run, ann):
    workflow = make_workflow(
        [{"maybe": {"if": "{{ input.go }}", "call": "user.suspend", "with": {"user": "ann"}}}],
        input_schema={"type": "object", "properties": {"go": {"type": "boolean"}}},
    )
    execution = run(workflow, {"go": False})
    assert _steps(execution) == [("do[0].maybe", "skipped", "guard_false")]
    ann.refresh_from_db()
    assert ann.state == "active"
    run(workflow, {"go": True})
    ann.refresh_from_db()
    assert ann.state == "suspended"


def test_nested_loops_run_each_item_with_loop_index(make_workflow, run):
    workflow = make_workflow(
        [
            {
                "rows": {
                    "for": {"each": "row", "in": "{{ input.rows }}"},
                    "do": [
                        {
                            "cells": {
                                "for": {"each": "cell", "in": "{{ row }}"},
                                "do": [{"echo": {"call": "test.big", "with": {"size": "{{ cell }}"}}}],
                            }
                        }
                    ],
                }
            }
        ]
    )
    execution = run(workflow, {"rows": [[1, 2], [3]]})
    assert execution.status == "succeeded", execution.error
    echoes = list(execution.steps.filter(name="echo").order_by("sequence"))
    assert [len(s.output["blob"]) for s in echoes] == [1, 2, 3]
    assert [s.loop_index for s in echoes] == [0, 1, 0]
    assert [s.key for s in echoes] == [
        "do[0].rows[0].do[0].cells[0].do[0].echo",
        "do[0].rows[0].do[0].cells[1].do[0].echo",
        "do[0].rows[1].do[0].cells[0].do[0].echo",
    ]
    assert execution.steps.get(key="do[0].rows").output["count"] == 2


def test_loop_over_cap_fails_with_clear_error(make_workflow, run):
    workflow = make_workflow(
        [
            {
                "many": {
                    "for": {"each": "i", "in": "{{ input.items }}", "max_iterations": 3},
                    "do": [{"x": {"call": "test.big", "with": {"size": 1}}}],
                }
            }
        ]
    )
    execution = run(workflow, {"items": [1, 2, 3, 4]})
    assert execution.status == "failed"
    assert "loop over 4 items exceeds its cap of 3 iterations" in execution.error
    assert not execution.steps.filter(name="x").exists()


def test_execution_step_cap(make_workflow, run, settings):
    settings.KEYFLOW_MAX_STEPS_PER_EXECUTION = 5
    workflow = make_workflow(
        [
            {
                "many": {
                    "for": {"each": "i", "in": "{{ input.items }}"},
                    "do": [{"x": {"call": "test.big", "with": {"size": 1}}}],
                }
            }
        ]
    )
    execution = run(workflow, {"items": list(range(10))})
    assert execution.status == "failed"
    assert "exceeded its cap of 5 steps" in execution.error
    assert execution.steps.count() == 5


def test_retry_until_success_with_exponential_backoff(make_workflow, administrator):
    workflow = make_workflow(
        [
            {
                "flaky": {
                    "call": "test.flaky",
                    "with": {"fail_times": 2},
                    "retry": {
                        "max_attempts": 4,
                        "backoff": "exponential",
                        "initial_delay": 0.5,
                        "max_delay": 0.75,
                        "jitter": False,
                    },
                }
            }
        ]
    )
    from workflows.services import workflow_run

    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    claimed = take(execution.pk)
    assert claimed is not None
    slept: list[float] = []
    Runner(claimed, sleep=slept.append).run()
    execution.refresh_from_db()
    step = execution.steps.get()
    assert (execution.status, step.status, step.attempts, step.output) == ("succeeded", "succeeded", 3, {"calls": 3})
    assert slept == [0.5, 0.75]  # 0.5, then 1.0 capped at max_delay


def test_retry_gives_up_after_max_attempts_and_non_retryable_is_not_retried(make_workflow, run):
    workflow = make_workflow(
        [{"flaky": {"call": "test.flaky", "with": {"fail_times": 9}, "retry": {"max_attempts": 3, "initial_delay": 0}}}]
    )
    execution = run(workflow)
    step = execution.steps.get()
    assert (execution.status, step.status, step.attempts) == ("failed", "failed", 3)
    assert step.error == "flaky failure 3"
    assert execution.error == "Step do[0].flaky failed: flaky failure 3"

    workflow = make_workflow(
        [
            {
                "flaky": {
                    "call": "test.flaky",
                    "with": {"fail_times": 9, "retryable": False},
                    "retry": {"max_attempts": 3, "initial_delay": 0},
                }
            }
        ]
    )
    assert run(workflow).steps.get().attempts == 1


def test_jittered_delay_stays_within_half_to_full():
    policy = RetryPolicy(max_attempts=5, initial_delay=2, max_delay=100, jitter=True)
    assert policy.delay(3, lambda: 0.0) == 4.0
    assert policy.delay(3, lambda: 1.0) == 8.0


def test_timeout_fails_step_and_rolls_back_its_change(make_workflow, run, ann):
    workflow = make_workflow(
        [
            {
                "slow": {
                    "call": "test.slow_update",
                    "with": {"user": "ann", "seconds": 0.3, "job_title": "Nope"},
                    "timeout": 0.1,
                }
            }
        ]
    )
    events_before = DirectoryEvent.objects.count()
    execution = run(workflow)
    step = execution.steps.get()
    assert (execution.status, step.status) == ("failed", "failed")
    assert step.error.startswith("timed out after 0.1s")
    ann.refresh_from_db()
    assert ann.job_title == ""
    assert DirectoryEvent.objects.count() == events_before


def test_on_error_continue_records_failure_and_goes_on(make_workflow, run):
    workflow = make_workflow(
        [
            {"boom": {"call": "test.boom", "on_error": "continue"}},
            {"after": {"call": "test.big", "with": {"size": 1}, "if": "{{ steps.boom.status == 'failed' }}"}},
        ]
    )
    execution = run(workflow)
    assert execution.status == "succeeded"
    assert _steps(execution) == [("do[0].boom", "failed", ""), ("do[1].after", "succeeded", "")]
    assert execution.steps.get(name="boom").error == "internal error: RuntimeError: kaboom"


def test_default_on_error_fails_execution_and_stops(make_workflow, run):
    workflow = make_workflow([{"boom": {"call": "test.boom"}}, {"never": {"call": "test.big", "with": {"size": 1}}}])
    execution = run(workflow)
    assert execution.status == "failed"
    assert _steps(execution) == [("do[0].boom", "failed", "")]


def test_expression_error_names_the_missing_name(make_workflow, run):
    workflow = make_workflow([{"x": {"call": "test.big", "with": {"size": "{{ input.nope }}"}}}])
    execution = run(workflow)
    assert execution.status == "failed"
    step = execution.steps.get()
    assert (step.status, step.input) == ("failed", None)
    assert step.error.startswith("do[0].x.with: ") and "nope" in step.error
    assert "nope" in execution.error


def test_a_large_output_is_stored_whole_and_shown_as_a_preview(make_workflow, run, settings):
    from executions.recording import display_output

    settings.KEYFLOW_MAX_OUTPUT_BYTES = 1000
    execution = run(make_workflow([{"big": {"call": "test.big", "with": {"size": 5000}}}]))
    step = execution.steps.get()
    assert step.output == {"blob": "x" * 5000}  # a resumed run reads it back
    shown, truncated = display_output(step.output)
    assert truncated is True and shown["truncated"] is True and shown["size_bytes"] > 5000
    assert len(shown["preview"]) <= 1000


def test_an_output_past_the_value_limit_fails_its_step(make_workflow, run, settings):
    settings.KEYFLOW_MAX_VALUE_BYTES = 2000
    execution = run(make_workflow([{"big": {"call": "test.big", "with": {"size": 5000}}}]))
    step = execution.steps.get()
    assert (execution.status, step.status, step.output) == ("failed", "failed", None)
    assert "larger than the 2,000-byte limit" in step.error


def test_a_loop_whose_iteration_failed_is_failed(make_workflow, run):
    workflow = make_workflow(
        [
            {
                "each": {
                    "for": {"each": "n", "in": "{{ [1, 2, 3] }}"},
                    "do": [{"boom": {"call": "test.boom", "if": "{{ n == 2 }}"}}],
                }
            }
        ]
    )
    execution = run(workflow)
    assert execution.status == "failed"
    loop = execution.steps.get(key="do[0].each")
    assert (loop.status, loop.finished_at is not None) == ("failed", True)


def test_a_loop_and_switch_that_finish_are_succeeded_and_a_cancelled_one_says_so(make_workflow, run):
    workflow = make_workflow(
        [
            {
                "pick": {
                    "switch": [
                        {"yes": {"when": "{{ true }}", "do": [{"a": {"call": "test.big", "with": {"size": 1}}}]}}
                    ]
                }
            },
            {
                "each": {
                    "for": {"each": "n", "in": "{{ [1, 2] }}"},
                    "do": [{"stop": {"call": "test.cancel_self", "if": "{{ n == 1 }}"}}],
                }
            },
        ]
    )
    execution = run(workflow)
    assert execution.status == "cancelled"
    assert execution.steps.get(key="do[0].pick").status == "succeeded"
    assert execution.steps.get(key="do[1].each").status == "cancelled"


def test_a_resumed_loop_over_a_large_list_runs_exactly_the_iterations_left(make_workflow, administrator, settings):
    """A loop's items are stored in full, however large: a crash mid-loop loses no iteration."""
    from workflows.services import workflow_run

    settings.KEYFLOW_MAX_OUTPUT_BYTES = 1000  # the items (~20 kB) are far past the display limit
    settings.KEYFLOW_GROUP_COMMIT_SECONDS = 0  # every iteration commits: the crash loses only its own
    workflow = make_workflow(
        [
            {
                "each": {
                    "for": {"each": "n", "in": "{{ input.items }}"},
                    "do": [
                        {"dies": {"call": "test.die", "if": "{{ n.i == 120 }}"}},
                        {"work": {"call": "test.big", "with": {"size": 1}}},
                    ],
                }
            }
        ],
        input_schema={"type": "object"},
    )
    items = [{"i": i, "pad": "p" * 100} for i in range(200)]
    execution = workflow_run(workflow=workflow, input={"items": items}, actor=administrator)
    with pytest.raises(WorkerDied):
        run_execution(execution.pk, heartbeat=False)
    assert execution.steps.filter(name="work").count() == 120
    assert requeue_stale(now=timezone.now() + timedelta(hours=1)) == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution.refresh_from_db()
    works = execution.steps.filter(name="work")
    assert works.count() == 200
    assert sorted(works.values_list("loop_index", flat=True)) == list(range(200))
    assert execution.steps.get(key="do[0].each").status == "succeeded"


def test_cancel_before_start_and_while_running(make_workflow, run, administrator):
    from executions.services import execution_cancel
    from workflows.services import workflow_run

    workflow = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}])
    queued = workflow_run(workflow=workflow, input={}, actor=administrator)
    execution_cancel(execution=queued, actor=administrator)
    assert queued.status == "cancelled"
    assert run_execution(queued.pk, heartbeat=False) is None  # nothing to claim
    assert queued.steps.count() == 0

    workflow = make_workflow(
        [{"stop": {"call": "test.cancel_self"}}, {"next": {"call": "test.big", "with": {"size": 1}}}]
    )
    execution = run(workflow)
    assert execution.status == "cancelled"
    assert _steps(execution) == [("do[0].stop", "succeeded", ""), ("do[1].next", "skipped", "cancelled")]


def test_resume_after_worker_death_runs_no_step_twice(make_workflow, administrator, ann):
    from workflows.services import workflow_run

    workflow = make_workflow(
        [
            {"first": {"call": "user.update", "with": {"user": "ann", "job_title": "One"}}},
            {
                "loop": {
                    "for": {"each": "n", "in": "{{ [1, 2] }}"},
                    "do": [{"inner": {"call": "test.flaky", "with": {"fail_times": 0}}}],
                }
            },
            {"dies": {"call": "test.die"}},
            {"last": {"call": "user.update", "with": {"user": "ann", "department": "Done"}}},
        ]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    with pytest.raises(WorkerDied):
        run_execution(execution.pk, heartbeat=False)
    execution.refresh_from_db()
    assert execution.status == "running"
    assert execution.steps.count() == 4  # first, loop, inner ×2 committed; dies did not

    # The sweeper sees a stale heartbeat and re-queues; a worker resumes.
    assert requeue_stale(now=timezone.now() + timedelta(hours=1)) == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution.refresh_from_db()
    assert execution.run_count == 2
    assert [s.name for s in execution.steps.order_by("sequence")] == ["first", "loop", "inner", "inner", "dies", "last"]
    assert DirectoryEvent.objects.filter(type="user.updated", changes__0__to="One").count() == 1
    ann.refresh_from_db()
    assert (ann.job_title, ann.department) == ("One", "Done")


def test_manual_run_with_bad_input_is_refused_with_every_error(make_workflow, administrator):
    from workflows.services import WorkflowInvalid, workflow_run

    workflow = make_workflow(
        [{"a": {"call": "test.big", "with": {"size": 1}}}],
        input_schema={
            "type": "object",
            "required": ["email", "count"],
            "properties": {"email": {"type": "string"}, "count": {"type": "integer"}},
        },
    )
    with pytest.raises(WorkflowInvalid) as info:
        workflow_run(workflow=workflow, input={"count": "three"}, actor=administrator)
    assert sorted((p.path, p.message) for p in info.value.problems) == [
        ("input", "'email' is a required property"),
        ("input.count", "'three' is not of type 'integer'"),
    ]
    assert Execution.objects.count() == 0


def test_run_as_role_without_object_permission_fails_step_and_changes_nothing(make_workflow, run, ann):
    from directory.models import AdminRole

    workflow = make_workflow(
        [{"suspend": {"call": "user.suspend", "with": {"user": "ann"}}}],
        role=AdminRole.objects.get(key="manager"),
    )
    # Take the permission away after saving: the run-time check must catch it.
    manager = AdminRole.objects.get(key="manager")
    manager.group.permissions.remove(*manager.group.permissions.filter(codename="change_user_state"))
    execution = run(workflow)
    assert execution.status == "failed"
    assert execution.steps.get().error == "run-as role Manager may not suspend user ann@example.com"
    assert User.objects.get(pk=ann.pk).state == "active"


def test_idempotent_retry_after_disable_returns_the_first_execution(make_workflow, administrator):
    from workflows.services import workflow_run, workflow_set_enabled

    workflow = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}])
    first = workflow_run(workflow=workflow, input={}, actor=administrator, idempotency_key="k-1")
    workflow = workflow_set_enabled(workflow=workflow, enabled=False, actor=administrator)
    again = workflow_run(workflow=workflow, input={}, actor=administrator, idempotency_key="k-1")
    assert again.pk == first.pk
    assert Execution.objects.count() == 1


def test_an_execution_whose_worker_keeps_dying_is_failed_not_run_again_for_ever(make_workflow, administrator, settings):
    """A step that kills its worker (or hangs it until django-q2's timeout) is re-queued by the
    sweeper; past KEYFLOW_MAX_RECOVERIES it is failed instead of run yet again."""
    from workflows.services import workflow_run

    settings.KEYFLOW_MAX_RECOVERIES = 2
    workflow = make_workflow(
        [{"dies": {"call": "test.die", "with": {"always": True}}}, {"after": {"call": "test.big", "with": {"size": 1}}}]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    later = timezone.now()
    for _ in range(2):
        with pytest.raises(WorkerDied):
            run_execution(execution.pk, heartbeat=False)
        later += timedelta(hours=1)
        assert requeue_stale(now=later) == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    execution.refresh_from_db()
    assert execution.recovered_count == 2
    assert "worker was lost 2 times" in execution.error
    assert execution.steps.count() == 0


def test_a_step_that_could_outlast_the_worker_task_continues_in_a_fresh_task(
    make_workflow, administrator, ann, settings
):
    """django-q2 kills a task at its timeout; a step that might not finish before then is left to a
    new task (the execution queued again, its steps so far committed) instead of being killed
    half-way and re-run by the sweeper."""
    from workflows.services import workflow_run

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 12}  # a task may run 2 s here
    workflow = make_workflow(
        [
            {"slow": {"call": "test.slow_update", "with": {"user": "ann", "seconds": 1.2, "job_title": "Slow"}}},
            {"next": {"call": "test.big", "with": {"size": 1}}},
        ]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) is None  # handed on, not failed or killed
    execution.refresh_from_db()
    assert (execution.status, [s.name for s in execution.steps.all()]) == ("queued", ["slow"])
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution.refresh_from_db()
    assert [s.name for s in execution.steps.order_by("sequence")] == ["slow", "next"]
    assert execution.recovered_count == 0
