"""A service called directly inside a workflow step needs no savepoint of its own.

Every directory service is atomic: outside a step it opens its own savepoint (or transaction),
so a failure leaves nothing half-written. Inside a workflow step the runner already holds a
savepoint around the step, and a service error propagates out of the action and rolls that
savepoint back — the service's own savepoint would only cost two more statements per write
(``SAVEPOINT`` and ``RELEASE``: a quarter of all statements a worker ran per execution).

So ``step()`` marks the savepoint depth of the step, and ``atomic_service`` joins the step's
savepoint (``atomic(savepoint=False)``) when called at exactly that depth. Services called from
within another service, or anywhere else, keep their own savepoint. The consequence for actions:
an action must let a service's exception propagate (turning it into an ``ActionError`` is fine); one
that caught it and went on querying would get Django's "an error occurred in the current
transaction" and fail the step instead.
"""

from __future__ import annotations

import _thread
from collections.abc import Callable
from contextvars import ContextVar, Token
from functools import wraps
from types import TracebackType
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, DatabaseError, Error, connections, transaction

F = TypeVar("F", bound=Callable[..., Any])

_step_depth: ContextVar[int | None] = ContextVar("keyflow_step_savepoint_depth", default=None)


class step:  # (a class used like ``transaction.atomic``: ``with step(): ...``)
    """A savepoint around one workflow step, which services called directly inside join.

    Inside a transaction on the embedded SQLite backend (``config.sqlite_backend``, whose
    savepoint statements run on the driver connection unless queries are logged), it does what a
    nested ``transaction.atomic()`` does — the same savepoint name, ``savepoint_ids`` and
    ``atomic_blocks`` entries, the same release, rollback and ``needs_rollback`` handling (a
    rollback goes through Django's ``savepoint_rollback``, which also drops the ``on_commit``
    callbacks registered inside) — without Django's per-call checks around it: a worker opens one
    per step, and those were three quarters of its cost. Anywhere else (another backend, no
    transaction, one awaiting rollback) it is ``transaction.atomic()``.
    """

    __slots__ = ("_atomic", "_conn", "_sid", "_token", "rolled_back")

    def __enter__(self) -> None:
        # Set when the savepoint was rolled back — also without an exception leaving the block:
        # a query in it failed and the code went on (Django marks the block for rollback).
        self.rolled_back = False
        conn = connections[DEFAULT_DB_ALIAS]
        nested = conn.in_atomic_block and not conn.needs_rollback and not conn.closed_in_transaction
        if not (nested and hasattr(conn, "direct_connection")):  # the embedded SQLite backend
            self._atomic: transaction.Atomic | None = transaction.atomic()
            self._atomic.__enter__()
        else:
            self._atomic = None
            conn.savepoint_state += 1
            sid = f"s{str(_thread.get_ident()).replace('-', '')}_x{conn.savepoint_state}"  # Django's name
            conn._savepoint(sid)
            conn.savepoint_ids.append(sid)
            conn.atomic_blocks.append(_NESTED)
            self._sid = sid
        self._conn = conn
        self._token: Token[int | None] = _step_depth.set(len(conn.savepoint_ids))

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        _step_depth.reset(self._token)
        if self._atomic is not None:
            self.rolled_back = exc_type is not None or self._conn.needs_rollback
            self._atomic.__exit__(exc_type, exc, tb)
            return
        conn, sid = self._conn, self._sid
        conn.atomic_blocks.pop()
        conn.savepoint_ids.pop()
        if conn.closed_in_transaction:
            self.rolled_back = True
            return  # the database rolls back by itself; the outermost block sees to it
        if exc_type is None and not conn.needs_rollback:
            try:
                conn._savepoint_commit(sid)
            except DatabaseError:
                try:
                    conn.savepoint_rollback(sid)
                    conn.savepoint_commit(sid)
                except Error:
                    conn.needs_rollback = True
                raise
            return
        self.rolled_back = True
        conn.needs_rollback = False
        try:
            conn.savepoint_rollback(sid)
            conn.savepoint_commit(sid)  # the savepoint is not reused: release it
        except Error:
            conn.needs_rollback = True


# What ``atomic_blocks`` holds for a step's savepoint: a nested, non-durable block.
_NESTED = transaction.Atomic(DEFAULT_DB_ALIAS, savepoint=True, durable=False)


def _opened_inside_step() -> list[str | None] | None:
    """The ``savepoint_ids`` entries opened inside the current step's savepoint, or None outside
    a step. (One read of the connection: every service call and every event asks.)"""
    depth = _step_depth.get()
    if depth is None:
        return None
    conn = connections[DEFAULT_DB_ALIAS]
    ids = conn.savepoint_ids
    return ids[depth:] if conn.in_atomic_block and len(ids) >= depth else None


def directly_in_step() -> bool:
    """Is no savepoint open inside the current step's? Then what is written now is kept or rolled
    back exactly with the step. (Blocks that joined it, ``atomic(savepoint=False)``, are entries
    of None in ``savepoint_ids``: an error in one marks the whole transaction for rollback, so
    it cannot roll back on its own.)"""
    inside = _opened_inside_step()
    return inside is not None and all(sid is None for sid in inside)


def _atomic() -> transaction.Atomic:
    # Exactly at the step's depth a service joins its savepoint; anywhere deeper it has its own.
    return transaction.atomic(savepoint=False) if _opened_inside_step() == [] else transaction.atomic()


def atomic_service(func: F) -> F:
    """``transaction.atomic`` for a service, joining the enclosing step's savepoint if any."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _atomic():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
