"""Scheduled triggers: one django-q2 Schedule per workflow, one execution per slot."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from directory.models import AdminRole
from executions.models import Execution
from workflows.schedules import fire, next_run_times, schedule_name, slots_after
from workflows.services import workflow_create, workflow_delete, workflow_set_enabled, workflow_update

pytestmark = pytest.mark.django_db

NOOP = [{"noop": {"switch": [{"default": {"do": []}}]}}]


def _definition(**trigger):
    return {"dsl": "1.0", "trigger": {"type": "schedule", **trigger}, "do": NOOP}


@pytest.fixture
def scheduled(administrator):
    return workflow_create(
        name="weekday report",
        definition=_definition(cron="0 7 * * 1-5", timezone="Europe/Berlin"),
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )


def _schedule(workflow) -> Schedule:
    return Schedule.objects.get(name=schedule_name(workflow.pk))


def test_cron_slots_follow_the_workflows_time_zone():
    # 2026-03-27 is a Friday; Berlin switches to summer time on Sunday 2026-03-29.
    after = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    slots = slots_after({"cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"}, after, 2)
    assert slots == [datetime(2026, 3, 30, 5, 0, tzinfo=UTC), datetime(2026, 3, 31, 5, 0, tzinfo=UTC)]


def test_saving_creates_the_schedule_armed_for_the_next_slot(scheduled):
    schedule = _schedule(scheduled)
    assert schedule.func == "workflows.tasks.fire_schedule"
    assert schedule.repeats == 1 and schedule.intended_date_kwarg == "slot"
    assert schedule.next_run == next_run_times(scheduled, 1)[0]


def test_changing_cron_changes_the_schedule(scheduled, administrator):
    before = _schedule(scheduled).next_run
    workflow_update(workflow=scheduled, actor=administrator, definition=_definition(cron="30 * * * *", timezone="UTC"))
    after = _schedule(scheduled).next_run
    assert after != before and after.minute == 30
    assert Schedule.objects.filter(name=schedule_name(scheduled.pk)).count() == 1


def test_disable_pauses_enable_rearms_delete_removes(scheduled, administrator):
    disabled = workflow_set_enabled(workflow=scheduled, enabled=False, actor=administrator)
    assert _schedule(scheduled).repeats == 0
    assert next_run_times(disabled) == []
    workflow_set_enabled(workflow=scheduled, enabled=True, actor=administrator)
    assert _schedule(scheduled).repeats == 1
    workflow_delete(workflow=scheduled, actor=administrator)
    assert not Schedule.objects.filter(name=schedule_name(scheduled.pk)).exists()


def test_changing_to_manual_removes_the_schedule(scheduled, administrator):
    workflow_update(
        workflow=scheduled, actor=administrator, definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": NOOP}
    )
    assert not Schedule.objects.filter(name=schedule_name(scheduled.pk)).exists()


def test_slot_fired_twice_creates_one_execution(scheduled):
    slot = _schedule(scheduled).next_run
    now = slot + timedelta(seconds=5)
    first, created_first = fire(workflow_id=scheduled.pk, slot=slot, now=now)
    second, created_second = fire(workflow_id=scheduled.pk, slot=slot, now=now)
    assert created_first and not created_second and first.pk == second.pk
    assert Execution.objects.filter(workflow=scheduled, slot_at=slot).count() == 1
    assert _schedule(scheduled).next_run > slot


@pytest.mark.parametrize(
    ("policy", "runs_missed_slot", "rearm"),
    [("latest", True, "latest"), ("none", False, "future"), ("all", True, "following")],
)
def test_missed_slots_follow_the_catch_up_policy(scheduled, settings, policy, runs_missed_slot, rearm):
    settings.KEYFLOW_SCHEDULE_CATCH_UP = policy
    trigger = {"cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"}
    now = timezone.now()
    old_slot = slots_after(trigger, now - timedelta(days=10))[0]
    _execution, created = fire(workflow_id=scheduled.pk, slot=old_slot, now=now)
    assert created is runs_missed_slot
    next_run = _schedule(scheduled).next_run
    if rearm == "future":
        assert next_run > now
    elif rearm == "following":
        assert next_run == slots_after(trigger, old_slot)[0] < now
    else:
        assert next_run <= now and next_run > old_slot


def test_once_schedule_fires_once(administrator):
    when = (timezone.now() + timedelta(hours=2)).replace(microsecond=0)
    workflow = workflow_create(
        name="one-off",
        definition=_definition(once=when.isoformat()),
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )
    assert _schedule(workflow).next_run == when
    fire(workflow_id=workflow.pk, slot=when, now=when + timedelta(seconds=1))
    assert _schedule(workflow).repeats == 0
    assert Execution.objects.filter(workflow=workflow).count() == 1


def test_workflow_admin_page_shows_next_run_times(client, billing_admin, scheduled):
    from django.urls import reverse

    client.force_login(billing_admin)
    page = client.get(reverse("admin:workflows_workflow_change", args=[scheduled.pk])).content.decode()
    for slot in next_run_times(scheduled, 5):
        assert slot.strftime("%Y-%m-%d %H:%M") in page
