"""Claiming queued executions and ending them.

A claim is a conditional update (``queued → running`` only if still queued and not cancelled):
zero rows means another worker has it, so a duplicate task is harmless. The final status is
written only by the claim that ran it (``run_count``), so a worker that lost its claim — the
sweeper re-queued it and another worker took it — cannot overwrite the other's result.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from executions.choices import ExecutionStatus
from executions.models import Execution
from workflows.models import Workflow, WorkflowVersion

QUEUED = ExecutionStatus.QUEUED
RUNNING = ExecutionStatus.RUNNING


def _runnable() -> QuerySet[Execution]:
    """Queued executions (the workflow and version to run come with ``attach``)."""
    return Execution.objects.filter(status=QUEUED, cancel_requested=False)


def attach(execution: Execution, read: Callable[[Hashable, Callable[[], Any]], Any]) -> Execution:
    """Give a claimed execution its workflow (with run-as role and principal) and pinned version,
    through ``read`` (a worker's group reads each once per transaction: drained executions mostly
    share them). An event run reads its event when it builds its scope."""
    execution.workflow = read(
        ("workflow", execution.workflow_id),
        lambda: Workflow.objects.select_related("run_as__group", "run_as__principal").get(pk=execution.workflow_id),
    )
    execution.version = read(
        ("version", execution.version_id), lambda: WorkflowVersion.objects.get(pk=execution.version_id)
    )
    return execution


def _locked(rows: QuerySet[Execution]) -> QuerySet[Execution]:
    # Only the execution's row: PostgreSQL would otherwise lock the joined workflow and role too.
    return rows.select_for_update(skip_locked=True, of=("self",))


def is_queued(execution_id: int) -> bool:
    """Still queued and not cancelled? (A read outside any transaction: a task whose execution
    another worker took returns without waiting for the write lock.)"""
    return Execution.objects.filter(pk=execution_id, status=QUEUED, cancel_requested=False).exists()


def take(execution_id: int) -> Execution | None:
    """Claim this execution in the current transaction; None if it is not queued any more."""
    execution = _locked(_runnable().filter(pk=execution_id)).first()
    return execution if execution is not None and claim(execution) else None


def take_next() -> Execution | None:
    """Claim the oldest queued execution no other worker is taking (rows another transaction
    holds are skipped on PostgreSQL; SQLite's write transaction already excludes other writers)."""
    execution = _locked(_runnable().order_by("queued_at", "id")).first()
    return execution if execution is not None and claim(execution) else None


def claim(execution: Execution) -> bool:
    """``queued → running`` if it still is queued and not cancelled; the instance follows."""
    now = timezone.now()
    claimed = Execution.objects.filter(pk=execution.pk, status=QUEUED, cancel_requested=False).update(
        status=RUNNING,
        started_at=Coalesce("started_at", Value(now)),
        heartbeat_at=now,
        run_count=F("run_count") + 1,
    )
    if claimed:
        execution.status, execution.heartbeat_at = RUNNING, now
        execution.started_at = execution.started_at or now
        execution.run_count += 1
    return bool(claimed)


def finish(execution: Execution, status: str, error: str, *, also_queued: bool = False) -> bool:
    """Write the final status if this claim still holds the execution. ``also_queued``: the claim
    was rolled back with a broken transaction; the execution is ended all the same, so that a
    crash is not retried forever."""
    now = timezone.now()
    mine = Q(status=RUNNING, run_count=execution.run_count)
    if also_queued:
        mine |= Q(status=QUEUED, run_count=execution.run_count - 1)
    return bool(
        Execution.objects.filter(mine, pk=execution.pk).update(
            status=status, error=error, finished_at=now, heartbeat_at=now
        )
    )


def cancel_requested(execution_id: int) -> bool:
    """Has someone asked this execution to stop?"""
    return Execution.objects.filter(pk=execution_id, cancel_requested=True).exists()
