"""Coalesced wake-ups: a burst of new executions costs a few worker tasks, not one each.

Each worker task drains the queue (``executions.tasks``), so one task per execution is mostly
overhead: every task is a broker row written, locked, handed to a worker and deleted — on
SQLite each of those a turn at the single write lock. Instead a counter row says how many
tasks are queued or draining. A new execution enqueues a task only while fewer than
``KEYFLOW_WAKE_TASKS`` are counted (``request``, in the transaction that queues the execution);
otherwise it wakes, after its commit, a task that may be lingering for new work. A task stays
counted while it drains and lingers, then lowers the count (``uncount``) and looks at the queue
once more in that same transaction.

Why nothing is stranded: an execution whose transaction saw the count full committed before the
uncount of a counted task (SQLite's write transactions are serial), and that task's last look,
in the transaction that uncounts, sees it. If that transaction does not commit, the task lowers
the count again on its own (``started``): lowered twice at worst, which costs a spare task, never
a stranded execution. That needs serial writers, so coalescing is on by default only on SQLite;
elsewhere every execution gets a task of its own.
A drain that stops on its time budget with work left requests a task again. A count left
high by tasks that never started or died (a lost broker row, a killed worker) is not trusted
once it is ``KEYFLOW_WAKE_STALE_SECONDS`` old: the next request restarts it at 1. Counting low
instead (a counted task that does start late) only costs a spare task. The sweeper re-enqueues
anything queued for long regardless.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config import sql_names
from executions.models import QueueWakeup

_ROW = 1


class _Statements:
    """The count's SQL, written out once: every run request and every woken task writes the count."""

    def __init__(self) -> None:
        table = sql_names.table(QueueWakeup)
        pk, pending, updated = (sql_names.column(QueueWakeup, name) for name in ("id", "pending", "updated_at"))
        self.count = (
            f"UPDATE {table} SET {pending} = CASE WHEN {updated} < %s THEN 1 ELSE {pending} + 1 END, {updated} = %s "
            f"WHERE {pk} = %s AND ({pending} < %s OR {updated} < %s)"
        )
        self.uncount = f"UPDATE {table} SET {pending} = {pending} - 1, {updated} = %s WHERE {pk} = %s AND {pending} > 0"
        self.exists = f"SELECT 1 FROM {table} WHERE {pk} = %s"


_statements = cache(_Statements)


def _stamp(moment: datetime) -> Any:
    """``moment`` as the database stores a DateTimeField."""
    return sql_names.db_value(QueueWakeup, "updated_at", moment)


def enabled() -> bool:
    """Coalescing applies (the setting, and a broker that really queues)."""
    return bool(settings.KEYFLOW_COALESCE_WAKEUPS) and not settings.Q_CLUSTER.get("sync")


def request() -> bool:
    """Count a task to be enqueued, in the current transaction; False if enough are pending.

    A stale count restarts at 1 (this task) rather than growing: tasks it counted that never
    started must not keep every later request waiting for the stale window again.
    """
    now = timezone.now()
    stale = _stamp(now - timedelta(seconds=settings.KEYFLOW_WAKE_STALE_SECONDS))
    sql = _statements()
    # Written out: through the ORM the conditional UPDATE cost ~1 ms of a ~6 ms run request (SQLite, 2-core VM).
    with connection.cursor() as cursor:
        cursor.execute(sql.count, [stale, _stamp(now), _ROW, settings.KEYFLOW_WAKE_TASKS, stale])
        if cursor.rowcount:
            return True
        cursor.execute(sql.exists, [_ROW])
        if cursor.fetchone() is not None:
            return False  # the count is full
    # The first request ever (or the row was deleted); a concurrent creator's row wins.
    QueueWakeup.objects.bulk_create([QueueWakeup(pk=_ROW, pending=1, updated_at=now)], ignore_conflicts=True)
    return True


def uncount() -> None:
    """A woken task is done waiting for work: one fewer, in the current transaction — the worker's
    group transaction that looks at the queue a last time (``executions.tasks``)."""
    with connection.cursor() as cursor:
        cursor.execute(_statements().uncount, [_stamp(timezone.now()), _ROW])


def started() -> None:
    """``uncount`` committed at once (when the transaction meant to carry it did not commit)."""
    with transaction.atomic():
        uncount()


def pending() -> int:
    """Tasks queued or draining and counted (0 if none was ever requested)."""
    row = QueueWakeup.objects.filter(pk=_ROW).values_list("pending", flat=True).first()
    return row or 0
