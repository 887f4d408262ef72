"""Writes to executions: start one, cancel one, wake waiting ones."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from executions.choices import ExecutionStatus, StepStatus, TriggerKind
from executions.models import Execution, StepRun
from executions.queue import enqueue_on_commit


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a run with different input."""


@transaction.atomic
def execution_start(
    *,
    workflow: Any,
    trigger_kind: str,
    input: dict[str, Any] | None = None,
    started_by: Any = None,
    event: Any = None,
    slot_at: datetime | None = None,
    idempotency_key: str | None = None,
    depth: int = 0,
) -> tuple[Execution, bool]:
    """Create a queued execution of the workflow's current version and queue it after commit.

    Returns ``(execution, created)``. The unique constraints on (workflow, event),
    (workflow, slot) and (workflow, idempotency key) make a repeat return the existing one.
    """
    lookup: dict[str, Any] = {}
    if event is not None:
        lookup = {"event": event}
    elif slot_at is not None:
        lookup = {"slot_at": slot_at}
    elif idempotency_key:
        lookup = {"idempotency_key": idempotency_key}
    if lookup:
        existing = Execution.objects.filter(workflow=workflow, **lookup).first()
        if existing is not None:
            _check_same_input(existing, input, idempotency_key)
            return existing, False
    execution = Execution(
        workflow=workflow,
        version=workflow.current_version,  # loaded with the workflow by its callers: the 202 shows its number
        trigger_kind=trigger_kind,
        input=input or {},
        started_by=started_by if getattr(started_by, "pk", None) else None,
        event=event,
        slot_at=slot_at,
        idempotency_key=idempotency_key or None,
        depth=depth,
    )
    if not lookup:  # nothing unique to collide with: no savepoint to catch the collision in
        execution.save(force_insert=True)
    else:
        try:
            with transaction.atomic():
                execution.save(force_insert=True)
        except IntegrityError:
            existing = Execution.objects.get(workflow=workflow, **lookup)
            _check_same_input(existing, input, idempotency_key)
            return existing, False
    enqueue_on_commit(execution.pk)
    return execution, True


def execution_for_idempotency_key(*, workflow: Any, key: str, input: dict[str, Any] | None) -> Execution | None:
    """The execution a retried call with ``key`` already started, or None; a different input is a conflict."""
    existing = Execution.objects.filter(workflow=workflow, idempotency_key=key).first()
    if existing is not None:
        _check_same_input(existing, input, key)
    return existing


def _check_same_input(existing: Execution, input: dict[str, Any] | None, idempotency_key: str | None) -> None:
    if idempotency_key and existing.input != (input or {}):
        raise IdempotencyConflict(
            f"Idempotency key {idempotency_key!r} was already used for execution {existing.pk} with different input"
        )


@transaction.atomic
def execution_cancel(*, execution: Execution, actor: Any) -> Execution:
    """Cancel a queued or waiting execution at once, or ask a running one to stop before its next step.

    Finished executions are left as they are.
    """
    now = timezone.now()
    Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.QUEUED).update(
        status=ExecutionStatus.CANCELLED, cancel_requested=True, finished_at=now, error="Cancelled before it started"
    )
    if Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.WAITING).update(
        status=ExecutionStatus.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        wake_at=None,
        waiting_on=None,
        error="Cancelled while waiting",
    ):
        # The step that waited, and the switches and loops around it, end as cancelled.
        StepRun.objects.filter(execution_id=execution.pk, status__in=[StepStatus.WAITING, StepStatus.RUNNING]).update(
            status=StepStatus.CANCELLED, finished_at=now
        )
    Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.RUNNING).update(cancel_requested=True)
    execution.refresh_from_db()
    return execution


def executions_wake(*, execution_ids: list[int]) -> list[int]:
    """Queue waiting executions again (their time came, or the command they wait on finished);
    returns those woken. Each is a conditional update, so a wake-up that comes twice wakes once."""
    woken = []
    with transaction.atomic():
        for pk in execution_ids:
            if Execution.objects.filter(pk=pk, status=ExecutionStatus.WAITING).update(
                status=ExecutionStatus.QUEUED, wake_at=None, waiting_on=None
            ):
                enqueue_on_commit(pk)
                woken.append(pk)
    return woken


__all__ = [
    "IdempotencyConflict",
    "TriggerKind",
    "execution_cancel",
    "execution_for_idempotency_key",
    "execution_start",
    "executions_wake",
]
