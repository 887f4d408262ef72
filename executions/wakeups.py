"""Coalesced wake-ups: a burst of new executions costs a few worker tasks, not one each.

Each worker task drains the queue (``executions.tasks``), so one task per execution is mostly
overhead: every task is a broker row written, locked, handed to a worker and deleted — on
SQLite each of those a turn at the single write lock. Instead a counter row says how many
tasks are queued but not started. A new execution enqueues a task only while fewer than
``KEYFLOW_WAKE_TASKS`` are pending (``request``, in the transaction that queues the execution);
a task lowers the count as it starts (``started``) and then drains every queued execution.

Why nothing is stranded: an execution whose transaction saw the count full committed before
(SQLite: transactions are serial; PostgreSQL: the upsert locks the row, so ``started`` waits for
that commit) a pending task's ``started``, and that task's drain, which begins after it, sees
it. A drain that stops on its time budget with work left requests a task again. A count left
high by tasks that never started (a lost broker row) is not trusted once it is
``KEYFLOW_WAKE_STALE_SECONDS`` old: the next request restarts it at 1. Counting low instead (a
counted task that does start late) only costs a spare task. The sweeper re-enqueues anything
queued for long regardless.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from directory.rows import execute
from executions.models import QueueWakeup

_ROW = 1


@cache
def _sql(vendor: str) -> dict[str, str]:
    qn = connection.ops.quote_name
    table = qn(QueueWakeup._meta.db_table)
    pending, updated = qn("pending"), qn("updated_at")
    return {
        "request": (
            f"INSERT INTO {table} ({qn('id')}, {pending}, {updated}) VALUES (%s, 1, %s)"
            # A stale count restarts at 1 (this task) rather than growing: tasks it counted that
            # never started must not keep every later request waiting for the stale window again.
            f" ON CONFLICT ({qn('id')}) DO UPDATE SET {pending} = CASE WHEN {table}.{updated} < %s"
            f" THEN 1 ELSE {table}.{pending} + 1 END, {updated} = %s"
            f" WHERE {table}.{pending} < %s OR {table}.{updated} < %s"
        ),
        "started": (
            f"UPDATE {table} SET {pending} = CASE WHEN {pending} > 0 THEN {pending} - 1 ELSE 0 END,"
            f" {updated} = %s WHERE {qn('id')} = %s"
        ),
    }


def enabled() -> bool:
    """Coalescing applies (the setting, and a broker that really queues)."""
    return bool(settings.KEYFLOW_COALESCE_WAKEUPS) and not settings.Q_CLUSTER.get("sync")


def request() -> bool:
    """Count a task to be enqueued, in the current transaction; False if enough are pending."""
    now = timezone.now()
    stale = now - timedelta(seconds=settings.KEYFLOW_WAKE_STALE_SECONDS)
    adapt = connection.ops.adapt_datetimefield_value
    now_value, stale_value = adapt(now), adapt(stale)
    return (
        execute(
            _sql(connection.vendor)["request"],
            [_ROW, now_value, stale_value, now_value, settings.KEYFLOW_WAKE_TASKS, stale_value],
        )
        == 1
    )


def started() -> None:
    """A woken task is starting: one pending fewer (committed at once, before it drains)."""
    with transaction.atomic():
        execute(_sql(connection.vendor)["started"], [connection.ops.adapt_datetimefield_value(timezone.now()), _ROW])


def pending() -> int:
    """Tasks queued to drain and not started (0 if none was ever requested)."""
    row = QueueWakeup.objects.filter(pk=_ROW).values_list("pending", flat=True).first()
    return row or 0
