"""Group commit: what must be durable (really committed, not just released to a savepoint) when,
and external effects with no transaction open.

These tests use real transactions (``transaction=True``), so ``connection.in_atomic_block``
tells whether the runner holds a transaction open.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db import connection, transaction

from executions import claims
from executions.models import Execution, StepRun
from executions.runner import Runner
from workflows.actions import registry
from workflows.actions.base import EXTERNAL, Action, ActionContext

pytestmark = pytest.mark.django_db(transaction=True)


class Outside(Action):
    """Stands for an action with external side effects; notes whether a transaction was open and
    what was committed when it ran."""

    key = "test.outside"
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {}}
    effect = EXTERNAL
    seen: ClassVar[list[tuple[bool, int, str]]] = []

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        type(self).seen.append(
            (
                connection.in_atomic_block,
                StepRun.objects.filter(execution_id=ctx.execution_id).count(),
                ctx.idempotency_key,
            )
        )
        return {}


@pytest.fixture(autouse=True)
def outside_action(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.all_actions()
    monkeypatch.setitem(registry._ACTIONS, Outside.key, Outside())
    Outside.seen = []


def _start(workflow: Any, administrator: Any) -> Execution:
    from workflows.services import workflow_run

    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    with transaction.atomic():
        claimed = claims.take(execution.pk)
    assert claimed is not None
    return claimed


def test_retry_sleeps_with_no_transaction_open(make_workflow, administrator):
    workflow = make_workflow(
        [
            {"before": {"call": "test.big", "with": {"size": 1}}},
            {"flaky": {"call": "test.flaky", "with": {"fail_times": 1}, "retry": {"max_attempts": 2}}},
        ]
    )
    execution = _start(workflow, administrator)
    during_sleep: list[tuple[bool, int]] = []

    def sleep(_seconds: float) -> None:
        during_sleep.append((connection.in_atomic_block, StepRun.objects.filter(execution=execution).count()))

    assert Runner(execution, sleep=sleep).run() == "succeeded"
    assert during_sleep == [(False, 1)]  # the write lock is free, and the step before is committed


def test_an_external_action_runs_with_no_transaction_open_after_earlier_steps_committed(make_workflow, administrator):
    workflow = make_workflow(
        [
            {"a": {"call": "test.big", "with": {"size": 1}}},
            {"b": {"call": "test.big", "with": {"size": 1}}},
            {"out": {"call": "test.outside"}},
            {"c": {"call": "test.big", "with": {"size": 1}}},
        ]
    )
    execution = _start(workflow, administrator)
    assert Runner(execution).run() == "succeeded"
    # No transaction open, the two steps before it committed, a stable key for its receiver.
    assert Outside.seen == [(False, 2, f"{execution.pk}:do[2].out:1")]
    assert not connection.in_atomic_block
    assert execution.steps.count() == 4


def test_an_external_actions_record_is_committed_before_the_next_step(make_workflow, administrator):
    workflow = make_workflow([{"out": {"call": "test.outside"}}, {"again": {"call": "test.outside"}}])
    execution = _start(workflow, administrator)
    assert Runner(execution).run() == "succeeded"
    assert [(open_, done) for open_, done, _ in Outside.seen] == [(False, 0), (False, 1)]


def test_a_broken_group_that_held_the_claim_still_ends_the_execution(make_workflow, administrator, monkeypatch):
    from executions.tasks import run_execution
    from workflows.services import workflow_run

    workflow = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}])
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)

    def broken(*args: Any, **kwargs: Any) -> None:
        connection.needs_rollback = True  # as a failed query outside any step's savepoint leaves it
        raise RuntimeError("query failed")

    monkeypatch.setattr(Runner, "_check_stop", broken)
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    execution.refresh_from_db()
    assert (execution.status, execution.error) == ("failed", "internal error: RuntimeError: query failed")
    assert execution.steps.count() == 0
    assert not connection.in_atomic_block


def test_a_long_render_inside_a_group_commits_the_group_and_renders_with_no_transaction_open(
    make_workflow, administrator, monkeypatch, settings
):
    """Rendering is bounded in CPU time; inside an open group it may use only the group's time left,
    so a slow one never holds the write lock longer than the budget: the group commits and the
    render starts again outside any transaction."""
    from executions import runner as runner_module
    from workflows.expressions import ExpressionTimeout, render_value

    settings.KEYFLOW_GROUP_COMMIT_SECONDS = 3600
    seen: list[tuple[bool, float | None]] = []

    def slow_render(value, scope, **kwargs):
        from workflows.bounds import _ACTIVE

        budget = _ACTIVE.get()
        seen.append((connection.in_atomic_block, budget.timeout if budget else None))
        if connection.in_atomic_block and value == {"size": "{{ 2 }}"}:
            raise ExpressionTimeout(0.05)
        return render_value(value, scope, **kwargs)

    monkeypatch.setattr(runner_module, "render_value", slow_render)
    workflow = make_workflow(
        [
            {"a": {"call": "test.big", "with": {"size": 1}}},
            {"b": {"call": "test.big", "with": {"size": "{{ 2 }}"}}},
        ]
    )
    execution = _start(workflow, administrator)
    assert Runner(execution).run() == "succeeded"
    # b's params: first inside the group (timed out there), then again with no transaction open and
    # the full expression budget; step a was committed before the second try.
    assert seen[-2][0] is True and seen[-1] == (False, settings.KEYFLOW_EXPRESSION_TIMEOUT)
    assert execution.steps.get(name="b").output == {"blob": "xx"}


def test_after_commit_callbacks_run_when_the_group_commits_and_not_when_it_rolls_back(db):
    from executions.commit_group import CommitGroup

    group, calls = CommitGroup(1.0), []
    group.open()
    group.after_commit(lambda: calls.append("first"))
    assert group.commit() is True
    assert calls == ["first"]

    group.open()
    group.after_commit(lambda: calls.append("second"))
    transaction.set_rollback(True)  # a query outside any step's savepoint failed
    assert group.commit() is False
    group.open()
    assert group.commit() is True
    assert calls == ["first"]  # neither at the rollback nor at a later commit
