"""django-q2 tasks: run one execution, and sweep for lost work.

Tasks receive ids, never objects. A worker claims an execution with a conditional update
(``queued → running``); zero rows updated means another worker has it, or it was cancelled,
and the task returns without doing anything, so a duplicate enqueue is harmless.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from executions.choices import ExecutionStatus
from executions.models import Execution
from executions.queue import enqueue_execution

logger = logging.getLogger("keyflow.worker")


class Heartbeat(threading.Thread):
    """Refreshes ``heartbeat_at`` while an execution runs, so the sweeper can tell a slow run from a dead one."""

    def __init__(self, execution_id: int, interval: float) -> None:
        super().__init__(name=f"heartbeat-{execution_id}", daemon=True)
        self.execution_id = execution_id
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                Execution.objects.filter(pk=self.execution_id, status=ExecutionStatus.RUNNING).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + 5)


def claim(execution_id: int) -> bool:
    """Take a queued execution (``queued → running``); False if it is not (or no longer) queued.

    A conditional update in the caller's transaction: workers claim in the runner's first
    transaction (``Runner(claim=True)``), so zero rows means another worker has it.
    """
    now = timezone.now()
    return bool(
        Execution.objects.filter(pk=execution_id, status=ExecutionStatus.QUEUED, cancel_requested=False).update(
            status=ExecutionStatus.RUNNING,
            started_at=Coalesce(F("started_at"), now),
            heartbeat_at=now,
            run_count=F("run_count") + 1,
        )
    )


def run_execution(execution_id: int, heartbeat: bool = True) -> str | None:
    """Claim and run one execution; returns its final status, or None if it was not ours to run."""
    from executions.runner import Runner

    # Read first (no write lock), claim in the runner's first transaction: one commit fewer.
    execution = (
        Execution.objects.select_related("workflow__run_as__group", "workflow__run_as__principal", "version", "event")
        .filter(pk=execution_id, status=ExecutionStatus.QUEUED, cancel_requested=False)
        .first()
    )
    if execution is None:
        return None
    runner = Runner(execution, claim=True)
    beat = Heartbeat(execution_id, settings.KEYFLOW_HEARTBEAT_SECONDS) if heartbeat else None
    if beat is not None:
        beat.start()
    try:
        return runner.run()
    finally:
        if beat is not None:
            beat.stop()


def requeue_stale(*, now: timezone.datetime | None = None) -> list[int]:
    """Re-queue running executions whose worker stopped beating; returns their ids.

    The resumed run skips the steps that committed. Each re-queue is its own conditional update
    so two sweepers never both take the same execution.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.KEYFLOW_STALE_AFTER_SECONDS)
    stale = list(
        Execution.objects.filter(status=ExecutionStatus.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    )
    requeued = []
    for pk in stale:
        if Execution.objects.filter(pk=pk, status=ExecutionStatus.RUNNING, heartbeat_at__lt=cutoff).update(
            status=ExecutionStatus.QUEUED
        ):
            logger.warning("execution %s: worker heartbeat stale since before %s, re-queued", pk, cutoff)
            enqueue_execution(pk)
            requeued.append(pk)
    return requeued


def reenqueue_forgotten(*, now: timezone.datetime | None = None, limit: int = 500) -> list[int]:
    """Enqueue again executions queued long ago whose task was lost (e.g. a crash before enqueue).

    A duplicate task is harmless: only one worker's claim succeeds.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.KEYFLOW_STALE_AFTER_SECONDS * 10)
    ids = list(
        Execution.objects.filter(status=ExecutionStatus.QUEUED, queued_at__lt=cutoff)
        .order_by("queued_at")
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        enqueue_execution(pk)
    return ids


def sweep() -> dict[str, list[int]]:
    """The periodic sweeper (a django-q2 schedule): recover lost work."""
    from workflows.dispatch import dispatch_pending

    return {
        "dispatched_events": dispatch_pending(),
        "requeued": requeue_stale(),
        "reenqueued": reenqueue_forgotten(),
    }
