"""Device agents' services: enrolment and agent tokens, claiming command runs, built-in commands."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from directory import selectors, services
from directory.actors import Actor
from directory.models import AgentToken, Command, CommandRun
from tests.directory.helpers import events_after, last_event_id

pytestmark = pytest.mark.django_db

ADA = Actor.system("ada")


def test_an_enrolment_token_is_stored_hashed_and_exchanged_once(make_device):
    device = make_device("mac-042", os_family="macos")
    mark = last_event_id()
    enrolment, secret = services.agent_enrolment_token_create(device=device, actor=ADA)

    assert secret.startswith("kfe_") and len(secret) > 40
    assert enrolment.key_hash == AgentToken.hash(secret) and secret not in enrolment.key_hash
    assert enrolment.prefix == secret[:12] and enrolment.is_active
    assert enrolment.expires_at - timezone.now() > timedelta(hours=23)
    assert selectors.agent_token_for(secret) is None  # not an agent token
    assert selectors.agent_token_for(secret, kinds=["enrolment"]) == enrolment
    assert not selectors.device_has_agent(device)

    agent, agent_secret = services.agent_enrol(enrolment=enrolment, agent_version="1.0", os_version="14.4")

    assert agent_secret.startswith("kfa_") and agent.kind == "agent" and agent.device == device
    assert selectors.agent_token_for(agent_secret) == agent
    assert selectors.device_has_agent(device)
    enrolment.refresh_from_db()
    assert enrolment.used_at is not None and not enrolment.is_active
    device.refresh_from_db()
    assert (device.agent_version, device.os_version) == ("1.0", "14.4")
    types = [(e.type, e.actor_type, e.actor_name) for e in events_after(mark)]
    assert types == [
        ("device.agent_enrolment_created", "system", "ada"),
        ("device.updated", "agent", "mac-042"),
        ("device.agent_enrolled", "agent", "mac-042"),
    ]
    assert secret not in str([e.snapshot for e in events_after(mark)])

    with pytest.raises(ValidationError):
        services.agent_enrol(enrolment=enrolment)


def test_a_new_enrolment_replaces_the_pending_one_and_a_new_agent_the_old(make_device):
    device = make_device()
    first, _ = services.agent_enrolment_token_create(device=device, actor=ADA)
    second, _ = services.agent_enrolment_token_create(device=device, actor=ADA)
    first.refresh_from_db()
    assert first.revoked_at is not None and second.is_active

    old_agent, _ = services.agent_enrol(enrolment=second)
    third, _ = services.agent_enrolment_token_create(device=device, actor=ADA)
    new_agent, _ = services.agent_enrol(enrolment=third)
    old_agent.refresh_from_db()
    assert old_agent.revoked_at is not None and new_agent.revoked_at is None


def test_an_inactive_device_gets_no_enrolment_token(make_device):
    device = make_device(active=False)
    with pytest.raises(ValidationError) as caught:
        services.agent_enrolment_token_create(device=device, actor=ADA)
    assert "device" in caught.value.message_dict
    assert not AgentToken.objects.exists()


def test_revoking_a_devices_tokens(make_device):
    device, other = make_device(), make_device()
    enrolment, _ = services.agent_enrolment_token_create(device=device, actor=ADA)
    agent, _ = services.agent_enrol(enrolment=enrolment)
    pending, _ = services.agent_enrolment_token_create(device=device, actor=ADA)
    other_agent, _ = services.agent_enrol(enrolment=services.agent_enrolment_token_create(device=other, actor=ADA)[0])
    mark = last_event_id()

    assert services.agent_tokens_revoke(device=device, actor=ADA) == 2
    assert services.agent_tokens_revoke(device=device, actor=ADA) == 0
    assert AgentToken.objects.get(pk=agent.pk).revoked_at is not None
    assert AgentToken.objects.get(pk=pending.pk).revoked_at is not None
    assert AgentToken.objects.get(pk=other_agent.pk).revoked_at is None
    assert not selectors.device_has_agent(device)
    [event] = events_after(mark)
    assert event.type == "device.agent_revoked"
    assert {t["kind"] for t in event.snapshot["issued"]} == {"agent", "enrolment"}

    assert services.agent_tokens_revoke(tokens=[other_agent], actor=ADA) == 1
    assert not selectors.device_has_agent(other)


def test_claiming_hands_out_queued_runs_of_the_device_once(make_device):
    device, other = make_device(), make_device()
    command = services.command_create(actor=ADA, name="Uptime", script="uptime")
    first = services.command_run_request(command=command, device=device, actor=ADA)
    second = services.command_run_request(command=command, device=device, actor=ADA)
    services.command_run_request(command=command, device=other, actor=ADA)
    mark = last_event_id()

    claimed = services.command_runs_claim(device=device, limit=1)
    assert [r.pk for r in claimed] == [first.pk] and claimed[0].status == "running"
    assert [r.pk for r in services.command_runs_claim(device=device)] == [second.pk]
    assert services.command_runs_claim(device=device) == []
    assert CommandRun.objects.get(pk=first.pk).started_at is not None
    assert events_after(mark) == []  # running is not an event; finished is


def test_recording_contact_writes_no_event_and_at_most_every_30_seconds(make_device):
    device = make_device()
    enrolment, _ = services.agent_enrolment_token_create(device=device, actor=ADA)
    agent, _ = services.agent_enrol(enrolment=enrolment)
    mark = last_event_id()
    services.device_record_contact(device=device, token=agent, agent_version="1.2")
    device.refresh_from_db()
    first = device.last_contact_at
    assert first is not None and device.agent_version == "1.2"
    services.device_record_contact(device=device, token=agent)
    device.refresh_from_db()
    assert device.last_contact_at == first
    agent.refresh_from_db()
    assert agent.last_used_at is not None
    assert events_after(mark) == []


def test_builtin_commands_are_stored_on_first_use_and_kept(make_device):
    linux = services.command_builtin(key="lock", os_family="linux", actor=ADA)
    assert (linux.name, linux.builtin, linux.shell) == ("Keyflow: Lock device (Linux)", "lock:linux", "sh")
    assert "loginctl lock-sessions" in linux.script
    services.command_update(command=linux, actor=ADA, script="loginctl lock-sessions && logger locked")
    again = services.command_builtin(key="lock", os_family="linux", actor=ADA)
    assert again.pk == linux.pk and "logger" in again.script  # an admin's edit is kept
    assert services.command_builtin(key="lock", os_family="macos", actor=ADA).builtin == "lock:macos"
    assert Command.objects.filter(builtin__startswith="lock:").count() == 2

    with pytest.raises(ValidationError) as caught:
        services.command_builtin(key="erase", os_family="macos", actor=ADA)
    assert "only through MDM" in caught.value.message_dict["device"][0]
    with pytest.raises(ValidationError):
        services.command_builtin(key="self-destruct", os_family="linux", actor=ADA)


def test_a_successful_lock_marks_the_device_locked(make_device):
    device = make_device(os_family="linux")
    lock = services.command_builtin(key="lock", os_family="linux", actor=ADA)
    failed = services.command_run_request(command=lock, device=device, actor=ADA)
    services.command_run_finish(run=failed, actor=Actor.for_agent(device), exit_code=1)
    device.refresh_from_db()
    assert device.locked is False

    run = services.command_run_request(command=lock, device=device, actor=ADA)
    mark = last_event_id()
    services.command_run_finish(run=run, actor=Actor.for_agent(device), exit_code=0)
    device.refresh_from_db()
    assert device.locked is True
    assert [(e.type, e.actor_type) for e in events_after(mark)] == [
        ("command.finished", "agent"),
        ("device.updated", "agent"),
    ]


def test_command_output_is_capped(make_device):
    command = services.command_create(actor=ADA, name="Chatty", script="yes")
    run = services.command_run_request(command=command, device=make_device(), actor=ADA)
    run = services.command_run_finish(run=run, actor=ADA, exit_code=0, output="y\n" * 100_000)
    assert len(run.output) == services.COMMAND_OUTPUT_MAX_CHARS
    assert run.output.endswith("[output truncated by Keyflow]")
