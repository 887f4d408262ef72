"""Reading the event log in tests."""

from __future__ import annotations

from typing import Any

from directory.models import DirectoryEvent


def events(**filters: Any) -> list[DirectoryEvent]:
    """Events in the order they were written."""
    return list(DirectoryEvent.objects.filter(**filters).order_by("id"))


def event_types(**filters: Any) -> list[str]:
    return [e.type for e in events(**filters)]


def only_event(**filters: Any) -> DirectoryEvent:
    """The one event matching ``filters`` (fails if there are none or several)."""
    found = events(**filters)
    assert len(found) == 1, [(e.type, e.resource_name) for e in found]
    return found[0]


def events_after(mark: int) -> list[DirectoryEvent]:
    """Events written after ``mark`` (an id from ``last_event_id``)."""
    return list(DirectoryEvent.objects.filter(id__gt=mark).order_by("id"))


def last_event_id() -> int:
    return DirectoryEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0
