"""Writes to executions: start, cancel, re-run, wake waiting ones, and delete old history."""

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

    Finished executions are left as they are. Who asked, and when, is recorded with the request.
    """
    now = timezone.now()
    who = {"cancelled_by": actor if getattr(actor, "pk", None) else None, "cancelled_at": now}
    Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.QUEUED).update(
        status=ExecutionStatus.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        error="Cancelled before it started",
        **who,
    )
    if Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.WAITING).update(
        status=ExecutionStatus.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        wake_at=None,
        waiting_on=None,
        error="Cancelled while waiting",
        **who,
    ):
        # The step that waited, and the switches and loops around it, end as cancelled.
        StepRun.objects.filter(execution_id=execution.pk, status__in=[StepStatus.WAITING, StepStatus.RUNNING]).update(
            status=StepStatus.CANCELLED, finished_at=now
        )
    Execution.objects.filter(pk=execution.pk, status=ExecutionStatus.RUNNING, cancel_requested=False).update(
        cancel_requested=True, **who
    )
    execution.refresh_from_db()
    return execution


def executions_cancel_for_workflow(*, workflow: Any, actor: Any) -> int:
    """Cancel every unfinished execution of a workflow (it was deleted); returns how many."""
    pending = Execution.objects.filter(workflow=workflow).exclude(status__in=ExecutionStatus.finished())
    cancelled = 0
    for execution in pending.only("pk"):
        execution_cancel(execution=execution, actor=actor)
        cancelled += 1
    return cancelled


class RerunRefused(Exception):
    """The execution cannot be run again (unfinished, or its workflow was deleted)."""


RERUN_SAME = "same"
RERUN_LATEST = "latest"


@transaction.atomic
def execution_rerun(*, execution: Execution, actor: Any, version: str = RERUN_SAME) -> Execution:
    """Run a finished execution again with the same input, as the version it ran (``"same"``) or
    the workflow's current one (``"latest"``); the new execution links back to the old one.

    A re-run is a manual run by ``actor`` whatever started the original: the event or slot that
    started it stays with the original (both are unique per workflow).
    """
    workflow = execution.workflow
    if execution.status not in ExecutionStatus.finished():
        raise RerunRefused("Only a finished execution can be run again; cancel it first.")
    if workflow.archived_at is not None:
        raise RerunRefused("The workflow was deleted; its executions cannot be run again.")
    if version not in (RERUN_SAME, RERUN_LATEST):
        raise RerunRefused(f"Choose the version to run: {RERUN_SAME!r} or {RERUN_LATEST!r}.")
    pinned = execution.version if version == RERUN_SAME else workflow.current_version
    rerun = Execution.objects.create(
        workflow=workflow,
        version=pinned,
        trigger_kind=TriggerKind.MANUAL,
        input=execution.input,
        started_by=actor if getattr(actor, "pk", None) else None,
        rerun_of=execution,
    )
    enqueue_on_commit(rerun.pk)
    return rerun


def executions_delete(*, execution_ids: list[int]) -> int:
    """Delete executions and their steps by id: the steps in one statement, then the executions.

    Used by retention and purge, a bounded batch at a time, so no statement holds its locks long.
    """
    with transaction.atomic():
        StepRun.objects.filter(execution_id__in=execution_ids).delete()
        deleted, _ = Execution.objects.filter(pk__in=execution_ids).delete()
    return deleted


def history_prune(*, older_than: datetime, batch_size: int = 1000, max_batches: int | None = None) -> int:
    """Delete finished executions queued before ``older_than``, ``batch_size`` at a time, each batch
    in its own short transaction; returns how many went. Unfinished ones are kept whatever their age."""
    total = batches = 0
    old = Execution.objects.filter(queued_at__lt=older_than, status__in=ExecutionStatus.finished())
    while max_batches is None or batches < max_batches:
        ids = list(old.order_by("queued_at", "id").values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        total += executions_delete(execution_ids=ids)
        batches += 1
    return total


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
    "RERUN_LATEST",
    "RERUN_SAME",
    "IdempotencyConflict",
    "RerunRefused",
    "TriggerKind",
    "execution_cancel",
    "execution_for_idempotency_key",
    "execution_rerun",
    "execution_start",
    "executions_cancel_for_workflow",
    "executions_delete",
    "executions_wake",
    "history_prune",
]
