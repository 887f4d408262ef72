"""Writing directory events.

Every event goes through ``record_events`` so that actor, causing execution and depth are
filled the same way everywhere, and so that listeners (workflow dispatch) hear about new
events once the transaction that wrote them commits. Events are written in the transaction of
the change they describe: a rolled-back change leaves no event.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import django.dispatch
from django.db import models, transaction
from django.utils import timezone

from config import sql_names
from directory.actors import current_actor
from directory.event_types import get_event_type
from directory.models import DirectoryEvent
from directory.redaction import redact, redact_changes

# Sent after the transaction that wrote events commits, with ``event_ids``.
events_committed = django.dispatch.Signal()


@dataclass
class PendingEvent:
    """An event about to be written: its type, what it is about, and what changed."""

    type: str
    resource_type: str
    resource: models.Model | None = None
    resource_id: Any = None
    resource_name: str = ""
    related_type: str = ""
    related: models.Model | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    snapshot: dict[str, Any] = field(default_factory=dict)


def _name_of(obj: models.Model | None) -> str:
    return str(obj)[:255] if obj is not None else ""


def record_events(pending: Iterable[PendingEvent]) -> list[DirectoryEvent]:
    """Write events in the current transaction, attributed to the current actor; returns them (those
    no one listens to without their ids). Secret-looking values in ``changes`` and ``snapshot`` (a
    user's ``attributes.api_token``) are stored as ``***``: the log is read by every admin who may
    view events, and outlives the objects."""
    actor = current_actor()
    now = timezone.now()
    rows = []
    for item in pending:
        get_event_type(item.type)  # an unregistered type is a programming error
        resource_id = item.resource_id if item.resource_id is not None else getattr(item.resource, "pk", "")
        rows.append(
            DirectoryEvent(
                type=item.type,
                occurred_at=now,
                actor_type=actor.type,
                actor_id=actor.id,
                actor_name=actor.name[:255],
                resource_type=item.resource_type,
                resource_id=str(resource_id),
                resource_name=item.resource_name or _name_of(item.resource),
                related_type=item.related_type,
                related_id=str(item.related.pk) if item.related is not None else "",
                related_name=_name_of(item.related),
                changes=redact_changes(item.changes),
                snapshot=redact(item.snapshot),
                caused_by_execution_id=actor.execution_id,
                depth=actor.depth,
            )
        )
    if not rows:
        return []
    listened = {t for t in {r.type for r in rows} if _is_listened(t)}
    ids: list[int] = []
    # In the order given (the log's order among events of the same moment is their ids').
    for heard, run in itertools.groupby(rows, key=lambda row: row.type in listened):
        if heard:
            ids += [event.pk for event in DirectoryEvent.objects.bulk_create(list(run))]
        else:
            _insert_unheard([*run], dispatched_at=now)
    if ids:
        transaction.on_commit(lambda: events_committed.send(sender=DirectoryEvent, event_ids=ids))
    return rows


def _insert_unheard(rows: list[DirectoryEvent], *, dispatched_at: datetime) -> None:
    """Write events no one listens to, already dispatched (no task, no sweep). Nothing needs their
    ids, so none is read back."""
    for row in rows:
        row.dispatched_at = dispatched_at
    # Written out: ``bulk_create`` cost ~0.5 ms per event, this ~0.27 ms (SQLite, 2-core VM).
    sql_names.insert_rows(DirectoryEvent, rows)


def _is_listened(event_type: str) -> bool:
    return _listener_check is None or _listener_check(event_type)


_listener_check: Callable[[str], bool] | None = None


def set_listener_check(check: Callable[[str], bool] | None) -> None:
    """Let the workflows app say whether any enabled workflow listens to an event type.

    Events nobody listens to are written already dispatched, so a step that changes a user
    does not cost a dispatch task per transaction. A workflow enabled later does not replay
    earlier events, so deciding at write time loses nothing.
    """
    global _listener_check
    _listener_check = check
