"""django-q2 tasks of the workflows app (scheduled fires and event dispatch)."""

from __future__ import annotations

from django.utils.dateparse import parse_datetime

from workflows.schedules import fire


def fire_schedule(workflow_id: int, slot: str, **_: object) -> int | None:
    """Called by the workflow's django-q2 Schedule with the slot it was armed for."""
    slot_at = parse_datetime(slot)
    if slot_at is None:
        raise ValueError(f"Bad slot time {slot!r}")
    execution, _created = fire(workflow_id=workflow_id, slot=slot_at)
    return execution.pk if execution is not None else None
