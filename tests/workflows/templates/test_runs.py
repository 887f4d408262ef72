"""Every template, made into a workflow on the demo company and run as its trigger would run it —
the schedule ones by their slot, the event ones by their event, the manual ones with input — with
notifications going to a real local webhook receiver and Django's mail outbox. Each test checks the
directory afterwards, the messages and the step records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from directory import services as ds
from directory.actors import Actor
from directory.models import CommandRun, Device, DeviceGroup, DirectoryEvent, User, UserGroup
from executions.tasks import wake_due
from workflows.dispatch import dispatch_events

from .conftest import finish, run_event, run_manual, run_slot, step_runs, steps

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("test")


def _emails_to(address: str) -> list:
    return [m for m in mail.outbox if address in m.to]


def test_onboarding_by_department(demo, instantiate, django_capture_on_commit_callbacks):
    workflow = instantiate("onboarding-by-department")
    priya = User.objects.get(email="priya.murphy@example.com")

    def hire():
        ds.user_create(actor=ACTOR, username="other", email="other@example.com", department="Sales")
        return ds.user_create(
            actor=ACTOR, username="nova.new", email="nova.new@example.com", first_name="Nova",
            department="Engineering", job_title="Software Engineer",
        )  # fmt: skip

    nova, execution = run_event(django_capture_on_commit_callbacks, workflow, hire)
    assert execution.status == "succeeded", execution.error
    nova.refresh_from_db()
    assert set(nova.groups.values_list("name", flat=True)) == {"Engineering", "VPN Users"}
    assert nova.manager == priya
    welcome = _emails_to("nova.new@example.com")
    assert len(welcome) == 1 and welcome[0].subject == "Welcome to Engineering, Nova"
    assert "priya.murphy@example.com" in welcome[0].body
    (note,) = _emails_to("it@example.com")
    assert note.subject == "New hire in Engineering: Nova" and "VPN Users" in note.body
    assert steps(execution) == [
        ("join_groups", "succeeded"),
        ("add_to_group", "succeeded"),
        ("add_to_group", "succeeded"),
        ("set_manager", "succeeded"),
        ("welcome", "succeeded"),
        ("notify_manager", "succeeded"),
    ]
    # Only the department's new users: the Sales hire started nothing.
    assert execution.event.resource_name == "nova.new@example.com"
    assert workflow.executions.count() == 1


def test_offboarding_locks_now_erases_later_and_tells_it_and_the_manager(demo, instantiate, administrator, clock):
    workflow = instantiate("offboarding")
    leaver = (
        User.objects.filter(state="active", manager__isnull=False, devices__os_family="windows")
        .order_by("username")
        .first()
    )
    mac = ds.device_create(actor=ACTOR, hostname="leaver-mac", os_family="macos", owner=leaver)
    enrolment, _ = ds.agent_enrolment_token_create(device=mac, actor=ACTOR)
    ds.agent_enrol(enrolment=enrolment)
    groups = sorted(leaver.groups.values_list("name", flat=True))
    devices = sorted(leaver.devices.values_list("hostname", flat=True))
    assert groups and len(devices) >= 2

    execution = run_manual(
        workflow, {"user": leaver.email, "reason": "Moved abroad", "erase_after_days": 3}, administrator
    )

    assert execution.status == "waiting", execution.error
    leaver.refresh_from_db()
    assert leaver.state == "suspended" and not leaver.groups.exists()
    kept = step_runs(execution, "leave_groups")[0].output
    assert sorted(g["name"] for g in kept["groups"]) == groups
    locks = CommandRun.objects.filter(device__owner=leaver, command__builtin__startswith="lock:")
    assert sorted(locks.values_list("device__hostname", flat=True)) == devices
    (alert,) = demo.received
    body = alert.json()
    assert body["title"] == f"Offboarded {leaver.display_name}"
    assert "Moved abroad" in body["text"] and "Erase in 3 days" in body["text"]
    (to_manager,) = _emails_to(leaver.manager.email)
    assert to_manager.subject == f"{leaver.display_name} was offboarded"
    assert [s for s in steps(execution) if s[0] == "grace_period"] == [("grace_period", "waiting")]

    clock.advance(days=3, minutes=1)
    assert wake_due() == [execution.pk]
    execution = finish(execution)

    assert execution.status == "succeeded", execution.error
    erased = CommandRun.objects.filter(device__owner=leaver, command__builtin__startswith="erase:")
    assert sorted(erased.values_list("device__hostname", flat=True)) == [h for h in devices if h != "leaver-mac"]
    erases = step_runs(execution, "erase")
    assert sorted(r.status for r in erases) == ["skipped"] + ["succeeded"] * (len(devices) - 1)
    assert [r.skip_reason for r in erases if r.status == "skipped"] == ["guard_false"]  # the Mac
    report = demo.received[1].json()
    assert "Macs to wipe by hand: leaver-mac" in report["text"]


def test_offboard_on_termination_date(demo, instantiate):
    workflow = instantiate("offboard-on-termination-date")
    today = timezone.localdate()
    leavers = list(User.objects.filter(state="active", termination_date__lt=today).order_by("username"))
    assert leavers  # the demo has one whose last day passed
    still = User.objects.filter(state="active").count()

    execution = run_slot(workflow)

    assert execution.status == "succeeded", execution.error
    assert execution.trigger_kind == "schedule"
    assert all(User.objects.get(pk=u.pk).state == "suspended" for u in leavers)
    assert User.objects.filter(state="active").count() == still - len(leavers)
    (message,) = demo.received
    assert message.json()["title"] == f"Suspended {len(leavers)} user(s) past their termination date"
    assert message.json()["text"] == ", ".join(u.email for u in leavers)
    assert [s for s in steps(execution) if s[0] == "suspend"] == [("suspend", "succeeded")] * len(leavers)


def test_contractor_expiry_reminder(demo, instantiate):
    workflow = instantiate("contractor-expiry-reminder")
    today = timezone.localdate()
    ending = User.objects.filter(
        employee_type="contractor",
        state="active",
        termination_date__gte=today,
        termination_date__lte=today + timedelta(days=14),
    ).select_related("manager")
    assert ending.count() == 2

    execution = run_slot(workflow)

    assert execution.status == "succeeded", execution.error
    assert sorted(address for m in mail.outbox for address in m.to) == sorted(c.manager.email for c in ending)
    for contractor in ending:
        (message,) = [m for m in mail.outbox if contractor.display_name in m.subject]
        assert message.subject == f"Contract of {contractor.display_name} ends on {contractor.termination_date}"
    assert steps(execution)[0] == ("ending", "succeeded")
    assert step_runs(execution, "ending")[0].output["total"] == 2
    assert [s for s in steps(execution) if s[0] == "email_manager"] == [("email_manager", "succeeded")] * 2
    assert not demo.received


def test_reactivate_a_user(demo, instantiate, administrator):
    workflow = instantiate("reactivate-user")
    back = User.objects.filter(state="suspended").order_by("username").first()
    ds.user_lock(user=back, actor=ACTOR)

    execution = run_manual(workflow, {"email": back.email, "groups": ["Sales", "All Staff"]}, administrator)

    assert execution.status == "succeeded", execution.error
    back.refresh_from_db()
    assert back.state == "active" and not back.account_locked and back.password_expired
    assert {"Sales", "All Staff"} <= set(back.groups.values_list("name", flat=True))
    assert steps(execution) == [
        ("activate", "succeeded"),
        ("restore_groups", "succeeded"),
        ("rejoin", "succeeded"),
        ("rejoin", "succeeded"),
        ("unlock", "succeeded"),
        ("expire_password", "succeeded"),
    ]


def test_suspend_inactive_users(demo, instantiate):
    workflow = instantiate("suspend-inactive-users")
    cutoff = timezone.now() - timedelta(days=90)
    dormant = list(User.objects.filter(state="active", last_login_at__lt=cutoff).order_by("username"))
    assert len(dormant) == 3

    execution = run_slot(workflow)

    assert execution.status == "succeeded", execution.error
    assert all(User.objects.get(pk=u.pk).state == "suspended" for u in dormant)
    assert not User.objects.filter(state="active", last_login_at__lt=cutoff).exists()
    (report,) = _emails_to("it@example.com")
    assert report.subject == "Suspended 3 inactive user(s)"
    assert report.body == "No sign-in for more than 90 days: " + ", ".join(u.email for u in dormant)
    assert [s for s in steps(execution) if s[0] == "suspend"] == [("suspend", "succeeded")] * 3


def test_quarantine_inactive_devices_emails_each_owner_once(demo, instantiate):
    workflow = instantiate("quarantine-inactive-devices")
    silent = list(
        Device.objects.filter(active=True, last_contact_at__lt=timezone.now() - timedelta(days=30)).order_by("hostname")
    )
    owned = [d for d in silent if d.owner_id]
    assert silent and owned and len(owned) < len(silent)

    execution = run_slot(workflow)

    assert execution.status == "succeeded", execution.error
    quarantine = DeviceGroup.objects.get(name="Quarantine")
    assert sorted(quarantine.members.values_list("hostname", flat=True)) == [d.hostname for d in silent]
    assert sorted(a for m in mail.outbox for a in m.to) == sorted(d.owner.email for d in owned)
    assert {m.subject for m in mail.outbox} == {f"Your device {d.hostname} is quarantined" for d in owned}
    tells = step_runs(execution, "tell_owner")
    assert sorted(t.status for t in tells) == sorted(
        ["succeeded"] * len(owned) + ["skipped"] * (len(silent) - len(owned))
    )

    # The next day: still silent, already quarantined — no second email.
    mail.outbox.clear()
    again = run_slot(workflow)
    assert again.status == "succeeded" and mail.outbox == []
    assert {t.status for t in step_runs(again, "tell_owner")} == {"skipped"}


@pytest.mark.parametrize(
    ("key", "flag", "command"),
    [
        ("device-compliance-disk-encryption", "disk_encrypted", "Enable BitLocker"),
        ("device-compliance-firewall", "firewall_enabled", "Enable Windows Firewall"),
    ],
)
def test_device_compliance(demo, instantiate, key, flag, command):
    workflow = instantiate(key)
    failing = list(Device.objects.filter(active=True, os_family="windows", **{flag: False}).order_by("hostname"))
    others = Device.objects.filter(active=True, **{flag: False}).exclude(os_family="windows")
    assert failing and others.exists()

    execution = run_slot(workflow)

    assert execution.status == "succeeded", execution.error
    group = DeviceGroup.objects.get(name="Needs remediation")
    assert sorted(group.members.values_list("hostname", flat=True)) == [d.hostname for d in failing]
    runs = CommandRun.objects.filter(command__name=command)
    assert sorted(runs.values_list("device__hostname", flat=True)) == [d.hostname for d in failing]
    assert {r.status for r in runs} == {"queued"}
    owners = sorted(d.owner.email for d in failing if d.owner_id)
    assert sorted(a for m in mail.outbox for a in m.to) == owners
    assert [s for s in steps(execution) if s[0] == "run_fix"] == [("run_fix", "succeeded")] * len(failing)


def test_mfa_enforcement_reminds_then_escalates(demo, instantiate):
    workflow = instantiate("mfa-enforcement")
    today = timezone.localdate()
    recent = ds.user_create(
        actor=ACTOR, username="rookie", email="rookie@example.com", state="active",
        hire_date=today - timedelta(days=10), manager=User.objects.get(email="priya.murphy@example.com"),
    )  # fmt: skip
    without = list(User.objects.filter(state="active", mfa_enrolled=False).select_related("manager"))
    late = [u for u in without if u.hire_date < today - timedelta(days=14)]
    assert recent in without and recent not in late and late

    execution = run_slot(workflow)

    assert execution.status == "succeeded", execution.error
    group = UserGroup.objects.get(name="MFA Required")
    assert set(group.members.all()) == set(without)
    reminders = [m for m in mail.outbox if m.subject == "Set up multi-factor authentication"]
    assert sorted(a for m in reminders for a in m.to) == sorted(u.email for u in without)
    escalations = [m for m in mail.outbox if m.subject.endswith("has no MFA yet")]
    assert sorted(a for m in escalations for a in m.to) == sorted(u.manager.email for u in late)
    assert not any("rookie" in m.subject for m in escalations)
    assert [s for s in steps(execution) if s[0] == "escalate"] == [("escalate", "succeeded")] * len(late)


def test_lost_device_is_locked_and_the_result_reported(demo, instantiate, administrator):
    workflow = instantiate("lost-or-stolen-device")
    device = Device.objects.filter(active=True, os_family="windows", owner__isnull=False).order_by("hostname").first()

    execution = run_manual(workflow, {"device": device.hostname, "note": "Left on a train"}, administrator)

    assert execution.status == "waiting", execution.error
    (alert,) = demo.received
    assert alert.json()["title"] == f"Device reported lost: {device.hostname}"
    assert "Left on a train" in alert.json()["text"] and device.owner.email in alert.json()["text"]
    run = CommandRun.objects.get(device=device, command__builtin="lock:windows")
    assert run.status == "queued" and execution.waiting_on_id == run.pk

    # The device comes online, locks and reports: the result wakes the execution.
    ds.command_run_finish(run=run, exit_code=0, output="locked", actor=Actor.for_agent(device))
    dispatch_events([DirectoryEvent.objects.filter(type="command.finished").latest("id").pk])
    execution = finish(execution)

    assert execution.status == "succeeded", execution.error
    device.refresh_from_db()
    assert device.locked
    report = demo.received[1].json()
    assert report["title"] == f"{device.hostname} is locked"
    assert ("report_locked", "succeeded") in steps(execution)
    assert ("report_failed", "skipped") in steps(execution)


def test_lost_device_without_an_agent_is_reported_as_not_locked(demo, instantiate, administrator):
    workflow = instantiate("lost-or-stolen-device")
    ds.device_create(actor=ACTOR, hostname="no-agent-01", os_family="linux")

    execution = run_manual(workflow, {"device": "no-agent-01"}, administrator)

    assert execution.status == "succeeded", execution.error
    assert ("lock", "failed") in steps(execution)
    report = demo.received[1].json()
    assert report["title"] == "no-agent-01 is NOT confirmed locked"
    assert report["text"].startswith("device no-agent-01 has no agent enrolled")


def test_new_device_joins_its_os_group_and_gets_the_baseline(demo, instantiate, django_capture_on_commit_callbacks):
    workflow = instantiate("new-device-by-os")

    def enrol():
        return ds.device_create(actor=ACTOR, hostname="new-linux-01", os_family="linux")

    device, execution = run_event(django_capture_on_commit_callbacks, workflow, enrol)

    assert execution.status == "succeeded", execution.error
    assert list(device.device_groups.values_list("name", flat=True)) == ["Linux Devices"]
    assert list(device.policies.values_list("name", flat=True)) == ["Screen lock after 5 minutes"]
    assert steps(execution) == [
        ("by_os", "succeeded"),
        ("join_windows", "skipped"),
        ("join_macos", "skipped"),
        ("join_linux", "succeeded"),
        ("baseline", "succeeded"),
    ]
