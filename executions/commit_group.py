"""One database transaction shared by consecutive steps — and, in a worker, by consecutive executions.

Committing is what costs on SQLite: its single write lock is handed over at every commit and a
waiting writer sleeps in SQLite's busy handler. A group keeps one transaction open for up to its
budget of seconds and commits it then, before a retry sleeps, around an action whose effects
leave the database, and at the end of the worker's task. What a group holds is all-or-nothing
like any transaction: a worker that dies mid-group loses the whole group — the claims, the
steps and their directory changes together — and the sweeper re-queues those executions, whose
resumed runs redo exactly the steps that did not commit.

Step records are written in bulk just before the commit, inside the same transaction as the
directory changes they describe, so a crash still never leaves a change without its record; so
are the steps' directory events that nothing listens to (``directory.event_log``).
The group also opens a transaction memo (``directory.transaction_memo``) for checks whose answer
cannot change within the transaction.

Groups yield early to another writer waiting for the lock (``config.sqlite_backend``), at the
next step boundary.

Groups are for SQLite (the default budget elsewhere is 0): on PostgreSQL a transaction holding
the row locks of several executions' steps can deadlock with another worker's doing the same in
another order — and PostgreSQL commits concurrently anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import Token
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from directory.event_log import deferring_events, stop_deferring_events
from directory.models import DirectoryEvent
from directory.rows import insert_many
from directory.step_savepoint import step as step_savepoint
from directory.transaction_memo import close_memo, open_memo
from executions.errors import StepRolledBack
from executions.models import StepRun

logger = logging.getLogger("keyflow.runner")


class CommitGroup:
    """The open group transaction (if any), its pending step records and the claims made in it."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._atomic: transaction.Atomic | None = None
        self._memo: Token[Any] | None = None
        self._events: Token[Any] | None = None
        self._started = 0.0
        self.pending: list[StepRun] = []
        self.pending_events: list[DirectoryEvent] = []
        # Executions claimed in the open transaction: if it rolls back they are queued again.
        self.claimed: list[int] = []

    @property
    def is_open(self) -> bool:
        return self._atomic is not None

    @property
    def broken(self) -> bool:
        """A query outside any step's savepoint failed: the group can only roll back."""
        return self.is_open and connection.needs_rollback

    def open(self) -> None:
        """Start the group transaction unless one is open."""
        if self._atomic is None:
            atomic = transaction.atomic()
            conn = connections[DEFAULT_DB_ALIAS]
            # On the embedded SQLite backend a group lets writers already waiting go first.
            conn.keyflow_group = True
            try:
                atomic.__enter__()
            finally:
                conn.keyflow_group = False
            self._atomic, self._started = atomic, time.monotonic()
            self._memo = open_memo()
            self._events = deferring_events(self.pending_events)

    def spent(self) -> bool:
        """Has the open group used its budget, or does another transaction wait for the write lock
        it holds? (A budget of 0 commits before every step.) Yielding to a waiting writer — a web
        request, an API call queueing a run — costs one commit; not yielding kept it waiting for
        the whole budget, and again for each group after, as SQLite's busy handler slept."""
        if not self.is_open:
            return False
        if time.monotonic() - self._started >= self.budget:
            return True
        waiting = getattr(connections[DEFAULT_DB_ALIAS], "writers_waiting", None)
        return waiting is not None and waiting()

    def add(self, step: StepRun) -> None:
        """A step record to write with this transaction."""
        self.pending.append(step)

    @contextmanager
    def step(self) -> Iterator[None]:
        """A savepoint whose pending records and events are dropped with it if it rolls back;
        directory services called directly inside join it (``directory.step_savepoint``). One
        rolled back without an exception (a query in it failed and the step went on) raises
        ``StepRolledBack``: what it recorded describes changes the database did not keep."""
        mark, events_mark = len(self.pending), len(self.pending_events)
        savepoint = step_savepoint()
        try:
            with savepoint:
                yield
            if savepoint.rolled_back:
                raise StepRolledBack("a query in the step failed and the step went on; its changes were rolled back")
        except BaseException:
            del self.pending[mark:]
            del self.pending_events[events_mark:]
            raise

    def commit(self) -> bool:
        """End the open group; True if it committed, False if it rolled back or none was open.

        Django rolls the transaction back instead of committing when a query in it failed
        (``needs_rollback``); the step records pending for it go with it.
        """
        if self._atomic is None:
            return False
        atomic, self._atomic = self._atomic, None
        if self._events is not None:
            stop_deferring_events(self._events)
            self._events = None
        pending, self.pending = self.pending, []
        events, self.pending_events = self.pending_events, []
        claimed, self.claimed = self.claimed, []
        committing = not connection.needs_rollback
        try:
            if committing and events:
                insert_many(events)
            if committing and pending:
                insert_many(pending)
        except BaseException as exc:
            committing = False
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        else:
            atomic.__exit__(None, None, None)
        finally:
            if self._memo is not None:
                close_memo(self._memo)
                self._memo = None
            if not committing and claimed:
                _requeue(claimed)
        return committing


def _requeue(execution_ids: list[int]) -> None:
    """Claims rolled back: those executions are queued again; hand them to a worker again."""
    from executions.queue import enqueue_execution

    logger.warning("group transaction rolled back; re-queueing executions %s", execution_ids)
    for pk in execution_ids:
        enqueue_execution(pk)
