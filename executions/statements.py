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

from directory.rows import execute, fetch_one, load_rows, select_columns
from executions.choices import ExecutionStatus
from executions.models import Execution


@cache
def _sql() -> dict[str, str]:
    qn = connection.ops.quote_name
    meta = Execution._meta
    table = qn(meta.db_table)
    c = {f.name: qn(f.column) for f in meta.concrete_fields}
    queued = f"{c['status']} = %s AND {c['cancel_requested']} = %s"
    skip_locked = " FOR UPDATE SKIP LOCKED" if connection.features.has_select_for_update_skip_locked else ""
    # The oldest queued execution. The status is a literal: a partial index (``execution_queue_idx``)
    # is used only when the query's WHERE visibly implies the index's, which a parameter does not.
    oldest = (
        f"FROM {table} WHERE {c['status']} = '{_QUEUED}' AND {c['cancel_requested']} = %s"
        f" ORDER BY {c['queued_at']}, {c['id']} LIMIT 1{skip_locked}"
    )
    return {
        "cancel": f"SELECT {c['cancel_requested']} FROM {table} WHERE {c['id']} = %s",
        "load_queued": f"SELECT {select_columns(Execution)} FROM {table} WHERE {c['id']} = %s AND {queued}",
        "claim": (
            f"UPDATE {table} SET {c['status']} = %s, {c['started_at']} = COALESCE({c['started_at']}, %s),"
            f" {c['heartbeat_at']} = %s, {c['run_count']} = {c['run_count']} + 1"
            f" WHERE {c['id']} = %s AND {queued}"
        ),
        "finish": (
            f"UPDATE {table} SET {c['status']} = %s, {c['error']} = %s, {c['finished_at']} = %s,"
            f" {c['heartbeat_at']} = %s WHERE {c['id']} = %s AND {c['status']} IN (%s, %s)"
        ),
        "next": f"SELECT {c['id']} {oldest}",
        "next_row": f"SELECT {select_columns(Execution)} {oldest}",
    }


# Plain strings: psycopg would dump an Enum member by its name, not its value.
_QUEUED = ExecutionStatus.QUEUED.value
_RUNNING = ExecutionStatus.RUNNING.value


def _when(value: datetime) -> object:
    return connection.ops.adapt_datetimefield_value(value)


def cancel_key(execution_id: int) -> tuple[str, int]:
    """The transaction-memo key of an execution's cancel flag (``directory.transaction_memo``)."""
    return ("cancel_requested", execution_id)


def cancel_requested(execution_id: int) -> bool:
    """Has someone asked this execution to stop?"""
    row = fetch_one(_sql()["cancel"], [execution_id])
    return bool(row and row[0])


def claim(execution_id: int) -> bool:
    """``queued → running`` if it still is queued and not cancelled; False if another worker has it."""
    now = _when(timezone.now())
    return execute(_sql()["claim"], [_RUNNING, now, now, execution_id, _QUEUED, False]) == 1


def finish(execution_id: int, status: str, error: str, *, also_queued: bool) -> bool:
    """Write the final status if the execution is running (or, with ``also_queued``, queued: its
    claim was rolled back with a broken group)."""
    now = _when(timezone.now())
    second = _QUEUED if also_queued else _RUNNING
    return execute(_sql()["finish"], [str(status), error, now, now, execution_id, _RUNNING, second]) == 1


def load_queued(execution_id: int) -> Execution | None:
    """The execution as a model instance if it is still queued and not cancelled, else None
    (a task whose execution another worker took stops at this one read)."""
    rows = load_rows(Execution, _sql()["load_queued"], [execution_id, _QUEUED, False])
    return rows[0] if rows else None


def next_queued_id() -> int | None:
    """The oldest queued execution no other worker is taking (row-locked on PostgreSQL until the
    transaction ends; SQLite's write transaction already excludes every other writer)."""
    row = fetch_one(_sql()["next"], [False])
    return row[0] if row else None


def next_queued() -> Execution | None:
    """``next_queued_id``'s execution, loaded by the same statement (a drain takes one per run)."""
    rows = load_rows(Execution, _sql()["next_row"], [False])
    return rows[0] if rows else None
