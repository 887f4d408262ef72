"""The statements a worker runs for every execution, written by hand.

A worker runs these once or more per execution (the claim, the cancel check before each
step, the final status, finding the next queued execution); the ORM spent several times
longer building each one than the database spent answering it. Table and column names come
from the models' metadata and values go through the backend's own adapters, so they stay
correct on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.db import connection
from django.utils import timezone

from executions.choices import ExecutionStatus
from executions.models import Execution


def _columns() -> tuple[str, dict[str, str]]:
    qn = connection.ops.quote_name
    meta = Execution._meta
    names = ("id", "status", "cancel_requested", "started_at", "heartbeat_at", "finished_at", "error", "run_count")
    return qn(meta.db_table), {name: qn(meta.get_field(name).column) for name in names} | {
        "queued_at": qn(meta.get_field("queued_at").column)
    }


@cache
def _sql() -> dict[str, str]:
    table, c = _columns()
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    return {
        "cancel": f"SELECT {c['cancel_requested']} FROM {table} WHERE {c['id']} = %s",
        "queued": f"SELECT 1 FROM {table} WHERE {c['id']} = %s AND {c['status']} = %s AND {c['cancel_requested']} = %s",
        "claim": (
            f"UPDATE {table} SET {c['status']} = %s, {c['started_at']} = COALESCE({c['started_at']}, %s),"
            f" {c['heartbeat_at']} = %s, {c['run_count']} = {c['run_count']} + 1"
            f" WHERE {c['id']} = %s AND {c['status']} = %s AND {c['cancel_requested']} = %s"
        ),
        "finish": (
            f"UPDATE {table} SET {c['status']} = %s, {c['error']} = %s, {c['finished_at']} = %s,"
            f" {c['heartbeat_at']} = %s WHERE {c['id']} = %s AND {c['status']} IN (%s, %s)"
        ),
        "next": (
            f"SELECT {c['id']} FROM {table} WHERE {c['status']} = %s AND {c['cancel_requested']} = %s"
            f" ORDER BY {c['queued_at']}, {c['id']} LIMIT 1{skip_locked}"
        ),
    }


# Plain strings: psycopg would dump an Enum member by its name, not its value.
_QUEUED = ExecutionStatus.QUEUED.value
_RUNNING = ExecutionStatus.RUNNING.value


def _when(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def cancel_requested(execution_id: int) -> bool:
    """Has someone asked this execution to stop?"""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["cancel"], [execution_id])
        row = cursor.fetchone()
    return bool(row and row[0])


def is_queued(execution_id: int) -> bool:
    """Is it still waiting for a worker (and not cancelled)?"""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["queued"], [execution_id, _QUEUED, False])
        return cursor.fetchone() is not None


def claim(execution_id: int) -> bool:
    """``queued → running`` if it still is queued and not cancelled; False if another worker has it."""
    now = _when(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(
            _sql()["claim"],
            [_RUNNING, now, now, execution_id, _QUEUED, False],
        )
        return cursor.rowcount == 1


def finish(execution_id: int, status: str, error: str, *, from_statuses: tuple[str, str]) -> bool:
    """Write the final status if the execution is in one of ``from_statuses``."""
    now = _when(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_sql()["finish"], [str(status), error, now, now, execution_id, *map(str, from_statuses)])
        return cursor.rowcount == 1


def load_execution(execution_id: int) -> Execution | None:
    """The execution row as a model instance, without the ORM's query building."""
    table, c = _columns()
    rows = list(Execution.objects.raw(f"SELECT * FROM {table} WHERE {c['id']} = %s", [execution_id]))
    return rows[0] if rows else None


def next_queued_id() -> int | None:
    """The oldest queued execution no other worker is taking (row-locked on PostgreSQL until the
    transaction ends; SQLite's write transaction already excludes every other writer)."""
    with connection.cursor() as cursor:
        cursor.execute(_sql()["next"], [_QUEUED, False])
        row = cursor.fetchone()
    return row[0] if row else None
