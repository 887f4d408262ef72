"""Event dispatch: the directory event log is the outbox workflows are triggered from.

After a transaction that wrote events commits, their ids are handed to a worker task in
batches. The task loads the enabled event workflows for the batch's types once, evaluates
each workflow's ``when`` against each event, and creates one execution per (workflow,
event) — a unique constraint, so a repeated dispatch creates nothing new — then marks the
events dispatched. Events whose dispatch never happened (no worker, a crash) are picked up by
the sweeper. Events caused by workflows deeper than ``KEYFLOW_MAX_TRIGGER_DEPTH`` trigger
nothing, and the event says so.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_q.tasks import async_task

from config import sql_names
from directory.models import DirectoryEvent
from executions.choices import ExecutionStatus, TriggerKind
from executions.context import event_context
from executions.models import Execution
from executions.queue import enqueue_many_on_commit, shared_broker, wake_clusters_for_task
from executions.services import executions_wake
from workflows.choices import WorkflowType
from workflows.conditions import is_true
from workflows.expressions import ExpressionError, render_budget
from workflows.models import Workflow

logger = logging.getLogger("keyflow.dispatch")

DISPATCH_TASK = "workflows.dispatch.dispatch_events"


def _chunks(ids: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def on_events_committed(sender: Any, event_ids: list[int], **kwargs: Any) -> None:
    """Receiver of ``directory.event_log.events_committed``: dispatch in batches."""
    for chunk in _chunks(sorted(event_ids), settings.KEYFLOW_DISPATCH_BATCH):
        if settings.KEYFLOW_DISPATCH_INLINE:
            dispatch_events(chunk)
        else:
            async_task(DISPATCH_TASK, chunk, broker=shared_broker(), task_name=f"dispatch-{chunk[0]}-{len(chunk)}")
            wake_clusters_for_task()


# Events that wake executions waiting for them (a device command's result), whatever workflows listen.
WAKING_EVENTS = frozenset({"command.finished"})


def is_listened(event_type: str) -> bool:
    """Does any enabled event workflow start on ``event_type``, or does an execution wait for it?"""
    return (_listening.get() or _Listening()).listens(event_type)


def _listened_types() -> frozenset[str]:
    """The event types enabled event workflows start on."""
    # Written out once: every change a step or a request makes asks this; through the ORM ~0.63 ms, so ~0.08 ms
    # (SQLite, 2-core VM).
    with connection.cursor() as cursor:
        cursor.execute(_listened_sql(), [WorkflowType.EVENT])
        return frozenset(row[0] for row in cursor.fetchall())


@functools.cache
def _listened_sql() -> str:
    enabled, kind, event = (sql_names.column(Workflow, name) for name in ("enabled", "type", "trigger_event"))
    return f"SELECT DISTINCT {event} FROM {sql_names.table(Workflow)} WHERE {enabled} AND {kind} = %s"


def _any_waiting_on_commands() -> bool:
    return Execution.objects.filter(status=ExecutionStatus.WAITING, waiting_on__isnull=False).exists()


class _Listening:
    """The event types enabled workflows start on, read once (on first use) for a whole block."""

    def __init__(self) -> None:
        self._types: frozenset[str] | None = None
        self._waiting: bool | None = None

    def listens(self, event_type: str) -> bool:
        if self._types is None:
            self._types = _listened_types()
        if event_type in self._types:
            return True
        if event_type not in WAKING_EVENTS:
            return False
        if self._waiting is None:
            self._waiting = _any_waiting_on_commands()
        return self._waiting


_listening: ContextVar[_Listening | None] = ContextVar("keyflow_listening", default=None)


@contextmanager
def listening_read_once() -> Iterator[None]:
    """Inside, ``is_listened`` answers from one read of the enabled event workflows. For a block
    inside one transaction that no other writer can change meanwhile — a worker's group transaction
    on SQLite, which holds the write lock — this is the answer each check would have read."""
    token = _listening.set(_Listening())
    try:
        yield
    finally:
        _listening.reset(token)


def _wake_waiting(events: list[DirectoryEvent]) -> None:
    """Wake the executions waiting for the command runs these events say finished."""
    runs = [int(e.resource_id) for e in events if e.type in WAKING_EVENTS and e.resource_id.isdigit()]
    if runs:
        waiting = Execution.objects.filter(status=ExecutionStatus.WAITING, waiting_on_id__in=runs)
        executions_wake(execution_ids=list(waiting.values_list("pk", flat=True)))


def _matches(workflow: Workflow, event: DirectoryEvent, context: dict[str, Any]) -> tuple[bool, str]:
    when = (workflow.definition.get("trigger") or {}).get("when")
    if when in (None, "", {}):
        return True, ""
    try:
        with render_budget():  # the CPU timer too: a ``matches`` pattern runs in C, past any tick
            return is_true(when, {"event": context, "workflow": {"id": workflow.pk, "name": workflow.name}}), ""
    except ExpressionError as exc:
        return False, f"workflow {workflow.name}: trigger condition failed: {exc.message}"


def dispatch_events(event_ids: list[int]) -> int:
    """Create the executions the given events trigger; returns how many were created."""
    now = timezone.now()
    events = list(DirectoryEvent.objects.filter(pk__in=event_ids, dispatched_at__isnull=True).order_by("pk"))
    if not events:
        return 0
    _wake_waiting(events)
    workflows_by_type: dict[str, list[Workflow]] = {}
    for workflow in Workflow.objects.filter(
        enabled=True, type="event", trigger_event__in={e.type for e in events}
    ).select_related("current_version"):
        workflows_by_type.setdefault(workflow.trigger_event, []).append(workflow)

    new_executions: list[Execution] = []
    notes: dict[int, str] = {}
    max_depth = settings.KEYFLOW_MAX_TRIGGER_DEPTH
    for event in events:
        candidates = [
            w
            for w in workflows_by_type.get(event.type, [])
            if w.enabled_at is None or w.enabled_at <= event.occurred_at
        ]
        if not candidates:
            continue
        if event.depth > max_depth:
            names = ", ".join(w.name for w in candidates)
            notes[event.pk] = (
                f"Loop guard: caused at depth {event.depth}, beyond KEYFLOW_MAX_TRIGGER_DEPTH={max_depth}; "
                f"not triggered: {names}"
            )
            continue
        context = event_context(event) if any(w.definition.get("trigger", {}).get("when") for w in candidates) else {}
        problems = []
        for workflow in candidates:
            matched, problem = _matches(workflow, event, context)
            if problem:
                problems.append(problem)
            if matched:
                new_executions.append(
                    Execution(
                        workflow=workflow,
                        version_id=workflow.current_version_id,
                        trigger_kind=TriggerKind.EVENT,
                        event=event,
                        depth=event.depth,
                        input={},
                    )
                )
        if problems:
            notes[event.pk] = "; ".join(problems)

    with transaction.atomic():
        Execution.objects.bulk_create(new_executions, ignore_conflicts=True, batch_size=500)
        created_ids = list(
            Execution.objects.filter(
                event_id__in=[e.pk for e in events], status=ExecutionStatus.QUEUED, run_count=0
            ).values_list("pk", flat=True)
        )
        DirectoryEvent.objects.filter(pk__in=[e.pk for e in events if e.pk not in notes]).update(dispatched_at=now)
        for pk, note in notes.items():
            DirectoryEvent.objects.filter(pk=pk).update(dispatched_at=now, dispatch_note=note)
        enqueue_many_on_commit(created_ids)
    return len(new_executions)


def dispatch_pending(*, older_than_seconds: int = 30, limit: int = 5000) -> list[int]:
    """Dispatch events still undispatched after ``older_than_seconds`` (the sweeper's part)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        DirectoryEvent.objects.filter(dispatched_at__isnull=True, occurred_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    for chunk in _chunks(ids, settings.KEYFLOW_DISPATCH_BATCH):
        dispatch_events(chunk)
    return ids
