"""Commands and command runs: requesting, finishing, and the ``command.finished`` event."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from directory import services
from directory.actors import Actor
from directory.models import Command, CommandRun
from tests.directory.helpers import events_after, last_event_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def command(system) -> Command:
    return services.command_create(
        actor=system, name="Collect logs", shell="bash", script="journalctl -n 500", timeout_seconds=60
    )


def test_command_create_update_delete(system):
    mark = last_event_id()
    command = services.command_create(actor=system, name="Restart agent", script="systemctl restart agent")
    assert (command.shell, command.timeout_seconds) == ("bash", 120)  # defaults
    services.command_update(command=command, actor=system, timeout_seconds=30, shell="sh")
    command.refresh_from_db()
    assert (command.shell, command.timeout_seconds) == ("sh", 30)
    services.command_delete(command=command, actor=system)
    assert not Command.objects.filter(pk=command.pk).exists()
    assert events_after(mark) == []  # commands themselves are not triggers; finished runs are


@pytest.mark.parametrize(("fields", "bad_field"), [({"script": ""}, "script"), ({"shell": "fish"}, "shell")])
def test_command_create_rejects_bad_input(system, fields, bad_field):
    with pytest.raises(ValidationError) as caught:
        services.command_create(actor=system, **{"name": "Bad", "script": "true", **fields})
    assert bad_field in caught.value.message_dict


def test_request_queues_a_run_naming_who_asked(command, make_device, administrator):
    device = make_device("build-01")
    run = services.command_run_request(command=command, device=device, actor=administrator)
    run.refresh_from_db()
    assert (run.status, run.exit_code, run.finished_at) == ("queued", None, None)
    assert run.requested_by == f"admin:{administrator.username}"


def test_request_on_an_inactive_device_is_refused(command, make_device, system):
    device = make_device("old-01", active=False)
    with pytest.raises(ValidationError) as caught:
        services.command_run_request(command=command, device=device, actor=system)
    assert "device" in caught.value.message_dict
    assert not CommandRun.objects.exists()


def test_finish_writes_command_finished(command, make_device, system):
    device = make_device("build-01")
    run = services.command_run_request(command=command, device=device, actor=system)
    mark = last_event_id()
    agent = Actor.system("agent")

    finished = services.command_run_finish(run=run, actor=agent, exit_code=0, output="ok\n")

    assert finished.status == "succeeded"
    assert finished.started_at is not None and finished.finished_at is not None
    [event] = events_after(mark)
    assert event.type == "command.finished"
    assert (event.resource_type, event.resource_id) == ("command_run", str(run.pk))
    assert event.resource_name == "Collect logs on build-01"
    assert (event.related_type, event.related_id, event.related_name) == ("device", str(device.pk), "build-01")
    assert (event.actor_type, event.actor_name) == ("system", "agent")
    by_field = {c["field"]: (c["from"], c["to"]) for c in event.changes}
    assert by_field["status"] == ("queued", "succeeded")
    assert by_field["exit_code"] == (None, 0)
    assert by_field["output"] == ("", "ok\n")
    assert event.snapshot["command_name"] == "Collect logs"
    assert event.snapshot["device_hostname"] == "build-01"
    assert event.snapshot["status"] == "succeeded"
    assert event.snapshot["exit_code"] == 0


@pytest.mark.parametrize(
    ("exit_code", "status", "expected"),
    [(1, None, "failed"), (None, "timed_out", "timed_out"), (0, "failed", "failed")],
)
def test_finish_status_follows_exit_code_unless_given(command, make_device, system, exit_code, status, expected):
    run = services.command_run_request(command=command, device=make_device(), actor=system)
    finished = services.command_run_finish(run=run, actor=system, exit_code=exit_code, status=status)
    assert CommandRun.objects.get(pk=finished.pk).status == expected


def test_finishing_twice_or_to_a_running_status_is_refused(command, make_device, system):
    run = services.command_run_request(command=command, device=make_device(), actor=system)
    with pytest.raises(ValidationError) as caught:
        services.command_run_finish(run=run, actor=system, exit_code=None, status="running")
    assert "status" in caught.value.message_dict

    services.command_run_finish(run=run, actor=system, exit_code=0)
    mark = last_event_id()
    with pytest.raises(ValidationError) as caught:
        services.command_run_finish(run=run, actor=system, exit_code=1)
    assert "status" in caught.value.message_dict
    assert CommandRun.objects.get(pk=run.pk).exit_code == 0
    assert events_after(mark) == []
