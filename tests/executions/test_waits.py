"""Durable waits: a waiting execution holds no worker and no transaction, resumes at its time (the
sweeper wakes it) or when the command run it waits on finishes, loses nothing across a worker
restart, and can be cancelled while it waits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from directory import services as ds
from directory.choices import CommandRunStatus
from directory.models import Command, CommandRun, Device, DirectoryEvent
from executions.models import Execution
from executions.services import execution_cancel
from executions.tasks import run_execution, sweep, wake_due
from workflows.actions import registry
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError, Waiting
from workflows.dispatch import dispatch_events
from workflows.services import workflow_run

WAIT_THEN_WORK = [
    {"before": {"call": "test.big", "with": {"size": 1}}},
    {"pause": {"wait": {"for": "PT5S"}}},
    {"after": {"call": "test.big", "with": {"size": 2}}},
]


class RunAndWait(Action):
    """Creates a command run for a device and waits for its result (as ``device.run_command`` with
    ``wait: true`` does), then reports the exit code."""

    key = "test.run_and_wait"
    label = category = description = "test"
    effect = DATABASE
    params_schema = {"type": "object", "properties": {"device": {}, "command": {}, "timeout": {"type": "number"}}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> Any:
        device = Device.objects.get(hostname=params["device"])
        command = Command.objects.get(name=params["command"])
        run = ds.command_run_request(command=command, device=device, actor=ctx.actor)
        until = timezone.now() + timedelta(seconds=params.get("timeout", 600))
        return Waiting(until=until, state={"command_run": run.pk}, command_run_id=run.pk)

    def resume(self, ctx: ActionContext, state: dict[str, Any]) -> Any:
        run = CommandRun.objects.get(pk=state["command_run"])
        if run.status not in CommandRunStatus.finished():
            raise ActionError(f"command run {run.pk} did not finish in time")
        return {"command_run": run.pk, "exit_code": run.exit_code}


@pytest.fixture(autouse=True)
def run_and_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.all_actions()
    monkeypatch.setitem(registry._ACTIONS, RunAndWait.key, RunAndWait())


class Clock:
    """Moves Django's clock forward (``timezone.now`` everywhere), as time passing would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + self.offset)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


def _steps(execution: Execution) -> list[tuple[str, str]]:
    return [(s.name, s.status) for s in execution.steps.order_by("sequence")]


def test_a_wait_pauses_the_execution_and_the_sweeper_resumes_it_when_due(make_workflow, administrator, clock):
    workflow = make_workflow(WAIT_THEN_WORK)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    execution.refresh_from_db()
    assert execution.status == "waiting" and execution.finished_at is None
    assert execution.wake_at > timezone.now()
    assert _steps(execution) == [("before", "succeeded"), ("pause", "waiting")]

    assert wake_due() == []  # not due yet
    clock.advance(seconds=10)
    assert wake_due() == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution.refresh_from_db()
    assert _steps(execution) == [("before", "succeeded"), ("pause", "succeeded"), ("after", "succeeded")]
    assert execution.wake_at is None and execution.run_count == 2


def test_a_wait_already_due_goes_straight_on(make_workflow, run):
    workflow = make_workflow([{"pause": {"wait": {"until": "2020-01-01T00:00:00Z"}}}, *WAIT_THEN_WORK[2:]])
    execution = run(workflow)
    assert execution.status == "succeeded"
    assert _steps(execution) == [("pause", "succeeded"), ("after", "succeeded")]


def test_a_wait_from_an_expression(make_workflow, run):
    workflow = make_workflow(
        [{"pause": {"wait": {"for": "{{ input.seconds }}"}}}],
        input_schema={"type": "object", "properties": {"seconds": {"type": "integer"}}},
    )
    execution = run(workflow, {"seconds": 3600})
    assert execution.status == "waiting"
    assert timedelta(minutes=59) < execution.wake_at - timezone.now() <= timedelta(hours=1)


def test_a_wait_with_a_bad_value_fails_the_execution_with_its_path(make_workflow, run):
    workflow = make_workflow(
        [{"pause": {"wait": {"for": "{{ input.seconds }}"}}}],
        input_schema={"type": "object", "properties": {"seconds": {"type": "string"}}},
    )
    execution = run(workflow, {"seconds": "soon"})
    assert execution.status == "failed"
    assert "do[0].pause.wait.for" in execution.error and "ISO 8601" in execution.error


def test_a_woken_early_execution_waits_on(make_workflow, administrator):
    execution = workflow_run(workflow=make_workflow(WAIT_THEN_WORK), input={}, actor=administrator)
    run_execution(execution.pk, heartbeat=False)
    from executions.services import executions_wake

    assert executions_wake(execution_ids=[execution.pk]) == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    execution.refresh_from_db()
    assert execution.status == "waiting"
    assert _steps(execution) == [("before", "succeeded"), ("pause", "waiting")]


def test_a_waiting_execution_can_be_cancelled(make_workflow, administrator):
    workflow = make_workflow(
        [{"each": {"for": {"each": "n", "in": "{{ [1] }}"}, "do": [{"pause": {"wait": {"for": "P3D"}}}]}}]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    execution = execution_cancel(execution=execution, actor=administrator)
    assert execution.status == "cancelled" and execution.error == "Cancelled while waiting"
    assert _steps(execution) == [("each", "cancelled"), ("pause", "cancelled")]
    assert wake_due(now=timezone.now() + timedelta(days=4)) == []


def test_a_wait_in_a_loop_resumes_in_the_same_iteration(make_workflow, administrator, clock):
    workflow = make_workflow(
        [
            {
                "each": {
                    "for": {"each": "n", "in": "{{ [1, 2] }}"},
                    "do": [
                        {"pause": {"wait": {"for": "PT1M"}}},
                        {"work": {"call": "test.big", "with": {"size": "{{ n }}"}}},
                    ],
                }
            }
        ]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    for _ in range(2):
        assert run_execution(execution.pk, heartbeat=False) == "waiting"
        clock.advance(minutes=2)
        assert wake_due() == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution.refresh_from_db()
    works = execution.steps.filter(name="work").order_by("loop_index")
    assert [w.output["blob"] for w in works] == ["x", "xx"]
    assert execution.steps.get(name="each").status == "succeeded"


@pytest.mark.django_db(transaction=True)
def test_a_waiting_execution_holds_no_transaction_and_survives_a_worker_restart(make_workflow, administrator, clock):
    workflow = make_workflow(WAIT_THEN_WORK)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    assert not connection.in_atomic_block
    connection.close()  # a new worker process: nothing in memory survives
    swept = sweep()
    assert swept["woken"] == []
    clock.advance(seconds=6)
    assert sweep()["woken"] == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"


def _device_and_command(administrator: Any) -> tuple[Device, Command]:
    device = ds.device_create(actor=administrator, hostname="mac-042", os_family="macos")
    command = ds.command_create(actor=administrator, name="Report uptime", script="uptime")
    return device, command


def test_a_step_waits_for_its_command_and_the_result_wakes_it(make_workflow, administrator, settings):
    settings.KEYFLOW_DISPATCH_INLINE = True
    _device_and_command(administrator)
    workflow = make_workflow(
        [
            {"cmd": {"call": "test.run_and_wait", "with": {"device": "mac-042", "command": "Report uptime"}}},
            {
                "branch": {
                    "switch": [
                        {
                            "ok": {
                                "when": "{{ steps.cmd.output.exit_code == 0 }}",
                                "do": [{"good": {"call": "test.big", "with": {"size": 1}}}],
                            }
                        },
                        {"default": {"do": [{"bad": {"call": "test.big", "with": {"size": 2}}}]}},
                    ]
                }
            },
        ]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    execution.refresh_from_db()
    run = CommandRun.objects.get()
    assert execution.waiting_on_id == run.pk
    assert _steps(execution) == [("cmd", "waiting")]

    ds.command_run_finish(run=run, exit_code=0, output="up 3 days", actor=administrator)
    event = DirectoryEvent.objects.get(type="command.finished")
    dispatch_events([event.pk])  # what the commit hook does after the result is saved
    execution.refresh_from_db()
    assert execution.status == "queued" and execution.waiting_on_id is None
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    execution.refresh_from_db()
    assert _steps(execution) == [
        ("cmd", "succeeded"),
        ("branch", "succeeded"),
        ("bad", "skipped"),
        ("good", "succeeded"),
    ]
    assert execution.steps.get(name="cmd").output == {"command_run": run.pk, "exit_code": 0}


def test_a_command_that_never_reports_fails_its_step_at_the_timeout(make_workflow, administrator, clock):
    _device_and_command(administrator)
    workflow = make_workflow(
        [
            {
                "cmd": {
                    "call": "test.run_and_wait",
                    "with": {"device": "mac-042", "command": "Report uptime", "timeout": 60},
                }
            }
        ]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    clock.advance(minutes=2)
    assert wake_due() == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    execution.refresh_from_db()
    step = execution.steps.get(name="cmd")
    assert step.status == "failed" and "did not finish in time" in step.error
