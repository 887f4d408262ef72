"""Scheduled triggers: one django-q2 ``Schedule`` per scheduled workflow, armed one slot at a time.

django-q2 computes cron times in one global time zone, but each workflow names its own, so
Keyflow computes slots itself (croniter in the workflow's zone, correct across DST) and arms
its Schedule as a one-shot for the next slot. When it fires, ``fire_schedule`` creates the
execution for that slot — unique on (workflow, slot), so a slot fired twice runs once — and
re-arms the Schedule for the following slot. Disabling pauses the Schedule (no repeats left);
deleting the workflow or changing its trigger away from a schedule deletes it.

Missed slots (no worker running at the time) follow ``KEYFLOW_SCHEDULE_CATCH_UP``: ``latest``
runs the most recent missed slot once, ``none`` skips them, ``all`` runs every one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_q.models import Schedule

FIRE_TASK = "workflows.tasks.fire_schedule"


def schedule_name(workflow_id: int) -> str:
    return f"keyflow-workflow-{workflow_id}"


def _trigger(workflow: Any) -> dict[str, Any]:
    return (workflow.definition or {}).get("trigger") or {}


def slots_after(trigger: dict[str, Any], after: datetime, count: int = 1) -> list[datetime]:
    """The next ``count`` slot times (aware, UTC) strictly after ``after``."""
    if trigger.get("once"):
        once = parse_datetime(trigger["once"])
        if once is None:
            return []
        if timezone.is_naive(once):
            once = timezone.make_aware(once, ZoneInfo(trigger.get("timezone") or "UTC"))
        return [once.astimezone(ZoneInfo("UTC"))] if once > after else []
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    it = croniter(trigger["cron"], after.astimezone(zone))
    return [it.get_next(datetime).astimezone(ZoneInfo("UTC")) for _ in range(count)]


def latest_slot_at_or_before(trigger: dict[str, Any], moment: datetime) -> datetime | None:
    """The most recent cron slot at or before ``moment`` (None for one-off schedules)."""
    if trigger.get("once"):
        return None
    zone = ZoneInfo(trigger.get("timezone") or "UTC")
    it = croniter(trigger["cron"], (moment + timedelta(seconds=1)).astimezone(zone))
    return it.get_prev(datetime).astimezone(ZoneInfo("UTC"))


def next_run_times(workflow: Any, count: int = 5, now: datetime | None = None) -> list[datetime]:
    """What the workflow page shows: the next slots, or nothing when disabled or not scheduled."""
    if workflow.type != "schedule" or not workflow.enabled:
        return []
    return slots_after(_trigger(workflow), now or timezone.now(), count)


def _arm(schedule: Schedule, next_run: datetime | None) -> None:
    schedule.next_run = next_run
    schedule.repeats = 1 if next_run is not None else 0
    schedule.save()


def schedule_sync(*, workflow: Any, now: datetime | None = None) -> Schedule | None:
    """Create, re-arm, pause or delete the workflow's Schedule to match the workflow."""
    now = now or timezone.now()
    existing = Schedule.objects.filter(name=schedule_name(workflow.pk)).first()
    if workflow.type != "schedule":
        if existing is not None:
            existing.delete()
        return None
    schedule = existing or Schedule(
        name=schedule_name(workflow.pk),
        func=FIRE_TASK,
        kwargs=repr({"workflow_id": workflow.pk}),
        schedule_type=Schedule.ONCE,
        intended_date_kwarg="slot",
    )
    upcoming = slots_after(_trigger(workflow), now) if workflow.enabled else []
    _arm(schedule, upcoming[0] if upcoming else None)
    return schedule


def schedule_delete(*, workflow: Any) -> None:
    Schedule.objects.filter(name=schedule_name(workflow.pk)).delete()


def _next_after_fire(trigger: dict[str, Any], slot: datetime, now: datetime) -> datetime | None:
    """Where to re-arm after firing ``slot``, following the catch-up policy for missed slots."""
    following = slots_after(trigger, slot)
    if not following:
        return None
    upcoming = following[0]
    if upcoming > now:
        return upcoming
    policy = settings.KEYFLOW_SCHEDULE_CATCH_UP
    if policy == "all":
        return upcoming
    if policy == "latest":
        return latest_slot_at_or_before(trigger, now)
    return slots_after(trigger, now)[0]


def fire(*, workflow_id: int, slot: datetime, now: datetime | None = None) -> tuple[Any, bool]:
    """Handle one firing: start the slot's execution (once), then re-arm for the next slot.

    Returns ``(execution or None, created)``. A slot fired late beyond the grace period is
    skipped when the catch-up policy is ``none``.
    """
    from executions.choices import TriggerKind
    from executions.services import execution_start
    from workflows.models import Workflow

    now = now or timezone.now()
    with transaction.atomic():
        workflow = Workflow.objects.select_for_update().filter(pk=workflow_id).first()
        if workflow is None or workflow.type != "schedule" or not workflow.enabled:
            return None, False
        trigger = _trigger(workflow)
        missed = (now - slot).total_seconds() > settings.KEYFLOW_SCHEDULE_GRACE_SECONDS
        execution, created = None, False
        if not (missed and settings.KEYFLOW_SCHEDULE_CATCH_UP == "none"):
            execution, created = execution_start(workflow=workflow, trigger_kind=TriggerKind.SCHEDULE, slot_at=slot)
        schedule = Schedule.objects.filter(name=schedule_name(workflow.pk)).first()
        if schedule is not None:
            _arm(schedule, _next_after_fire(trigger, slot, now))
    return execution, created
