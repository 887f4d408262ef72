"""Device commands: run a stored command, lock, restart, erase — CommandRuns for the device's agent,
and with ``wait`` a paused execution that the agent's result wakes, branching on the exit code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from directory import services as ds
from directory.actors import Actor
from directory.models import Command, CommandRun
from executions.models import Execution
from executions.services import executions_wake
from executions.tasks import run_execution, wake_due
from tests.workflows.actions.conftest import events_since, last_event
from workflows.services import workflow_create, workflow_run

pytestmark = pytest.mark.django_db


class Clock:
    """Moves Django's clock forward, as time passing would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + self.offset)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


def test_run_command_queues_a_run_for_the_agent(call, world):
    mark = last_event()
    ran = call("device.run_command", {"device": "lin-042", "command": "Uptime"})
    assert ran.status == "succeeded", ran.error
    run = CommandRun.objects.get()
    assert (run.device, run.command, run.status) == (world["laptop"], world["uptime"], "queued")
    assert run.requested_by == f"execution:{ran.execution.workflow.name}"
    assert ran.output["command_run_id"] == run.pk and ran.output["status"] == "queued"
    assert (ran.output["device"], ran.output["command"], ran.output["exit_code"]) == ("lin-042", "Uptime", None)
    assert ran.execution.status == "succeeded"  # without wait, the step ends once queued
    assert events_since(mark) == []  # a queued run is no event; its result will be


def test_run_command_needs_an_enrolled_agent(call, world, administrator):
    ran = call("device.run_command", {"device": "pc-7", "command": "Uptime"})
    assert ran.status == "failed" and ran.error == "device pc-7 has no agent enrolled"
    ds.agent_tokens_revoke(device=world["laptop"], actor=administrator)
    ran = call("device.run_command", {"device": "lin-042", "command": "Uptime"})
    assert ran.error == "device lin-042 has no agent enrolled"
    assert not CommandRun.objects.exists()


def test_run_command_on_a_retired_device_fails(call, world, administrator):
    ds.device_update(device=world["laptop"], actor=administrator, active=False)
    ran = call("device.run_command", {"device": "lin-042", "command": "Uptime"})
    assert ran.status == "failed" and ran.error == "device: Device lin-042 is not active."
    assert not CommandRun.objects.exists()


def _workflow(administrator: Any, admin_role: Any, params: dict[str, Any], key: str = "device.run_command") -> Any:
    """Run the command, wait, then branch on the exit code."""
    return workflow_create(
        name=f"{key} and branch",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [
                {"cmd": {"call": key, "with": {**params, "wait": True, "timeout": 60}}},
                {
                    "branch": {
                        "switch": [
                            {
                                "three": {
                                    "when": "{{ steps.cmd.output.exit_code == 3 }}",
                                    "do": [{"tag": {"call": "user.lock", "with": {"user": "ann"}}}],
                                }
                            },
                            {"default": {"do": [{"other": {"call": "user.expire_password", "with": {"user": "ann"}}}]}},
                        ]
                    }
                },
            ],
        },
        run_as=admin_role,
        actor=administrator,
    )


def _agent_reports(device: Any, exit_code: int, output: str, capture: Any) -> CommandRun:
    """What the agent API does: claim the due run, then finish it (the commit dispatches)."""
    [run] = ds.command_runs_claim(device=device)
    with capture(execute=True):
        return ds.command_run_finish(run=run, actor=Actor.for_agent(device), exit_code=exit_code, output=output)


def test_waiting_for_the_result_then_branching_on_the_exit_code(
    world, administrator, admin_role, settings, django_capture_on_commit_callbacks
):
    settings.KEYFLOW_DISPATCH_INLINE = True
    workflow = _workflow(administrator, admin_role, {"device": "lin-042", "command": "Uptime"})
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)

    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    execution.refresh_from_db()
    run = CommandRun.objects.get()
    assert execution.waiting_on_id == run.pk
    assert timedelta(seconds=50) < execution.wake_at - timezone.now() <= timedelta(seconds=60)
    step = execution.steps.get(name="cmd")
    assert step.status == "waiting" and step.output["command_run_id"] == run.pk

    _agent_reports(world["laptop"], 3, "hi\n", django_capture_on_commit_callbacks)

    execution.refresh_from_db()
    assert execution.status == "queued"  # woken by command.finished
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    cmd = execution.steps.get(name="cmd")
    assert cmd.status == "succeeded"
    assert (cmd.output["exit_code"], cmd.output["output"], cmd.output["status"]) == (3, "hi\n", "failed")
    assert execution.steps.get(name="tag").status == "succeeded"
    assert execution.steps.get(name="other").status == "skipped"
    world["ann"].refresh_from_db()
    assert world["ann"].account_locked is True and world["ann"].password_expired is False


def test_a_device_that_never_reports_fails_the_step_at_the_timeout(world, administrator, admin_role, monkeypatch):
    clock = Clock(monkeypatch)
    workflow = _workflow(administrator, admin_role, {"device": "lin-042", "command": "Uptime"})
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"

    executions_wake(execution_ids=[execution.pk])  # woken early (no result yet): waits on
    assert run_execution(execution.pk, heartbeat=False) == "waiting"

    clock.advance(seconds=61)
    assert wake_due() == [execution.pk]
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    step = Execution.objects.get(pk=execution.pk).steps.get(name="cmd")
    assert step.error == "device lin-042 did not report within 60 s (it stays queued until the device calls in)"
    assert CommandRun.objects.get().status == "queued"


def test_lock_runs_the_builtin_command_and_marks_the_device_locked(
    world, administrator, admin_role, settings, django_capture_on_commit_callbacks
):
    settings.KEYFLOW_DISPATCH_INLINE = True
    workflow = _workflow(administrator, admin_role, {"device": "lin-042"}, key="device.lock")
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "waiting"
    run = CommandRun.objects.select_related("command").get()
    assert (run.command.builtin, run.command.shell) == ("lock:linux", "sh")
    assert run.command.script == "loginctl lock-sessions"

    _agent_reports(world["laptop"], 0, "", django_capture_on_commit_callbacks)

    world["laptop"].refresh_from_db()
    assert world["laptop"].locked is True
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    cmd = execution.steps.get(name="cmd")
    assert (cmd.output["command"], cmd.output["status"], cmd.output["exit_code"]) == (
        "Keyflow: Lock device (Linux)",
        "succeeded",
        0,
    )


def test_restart_and_erase_use_each_os_familys_script(call, world, administrator):
    enrolment, _ = ds.agent_enrolment_token_create(device=world["pc"], actor=administrator)
    ds.agent_enrol(enrolment=enrolment)
    restart = call("device.restart", {"device": "pc-7"})
    assert restart.status == "succeeded", restart.error
    erase = call("device.erase", {"device": "lin-042"})
    runs = {r.command.builtin: r for r in CommandRun.objects.select_related("command", "device")}
    assert set(runs) == {"restart:windows", "erase:linux"}
    assert runs["restart:windows"].command.shell == "powershell"
    assert "shutdown.exe /r" in runs["restart:windows"].command.script
    assert "cryptsetup luksErase" in runs["erase:linux"].command.script
    assert erase.output["command_run_id"] == runs["erase:linux"].pk and erase.output["device"] == "lin-042"
    world["laptop"].refresh_from_db()
    assert world["laptop"].locked is False  # a queued erase changes nothing yet


def test_erase_is_refused_for_a_mac_naming_why(call, world, administrator):
    mac = ds.device_create(actor=administrator, hostname="mac-042", os_family="macos")
    ds.agent_enrol(enrolment=ds.agent_enrolment_token_create(device=mac, actor=administrator)[0])
    ran = call("device.erase", {"device": "mac-042"})
    assert ran.status == "failed"
    assert ran.error == (
        "device mac-042: Erase device is not available for macOS devices: "
        "Apple allows a remote erase of a Mac only through MDM."
    )
    assert not Command.objects.filter(builtin__startswith="erase").exists() and not CommandRun.objects.exists()
    assert call("device.lock", {"device": "mac-042"}).status == "succeeded"
