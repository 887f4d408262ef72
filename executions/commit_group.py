"""One transaction shared by consecutive steps — and, in a worker, by consecutive executions.

A commit is what costs most on SQLite (its single write lock changes hands at every one), so a
group keeps one ``transaction.atomic()`` open for up to ``KEYFLOW_GROUP_COMMIT_SECONDS`` and
commits then, before a retry sleeps, before an action whose effect leaves the database, and when
the worker's task ends. Each step runs in its own savepoint (a nested ``atomic()``), so a failed
step rolls back alone. What a group holds is all-or-nothing like any transaction: a worker that
dies mid-group loses the claims, steps and directory changes in it together, and the executions
are run again from their last committed step. A budget of 0 commits before every step.

Step records are written in bulk (``bulk_create``) just before the commit, inside the same
transaction as the changes they describe.

What steps read again and again — the workflow and role of the executions a worker drains, the
run-as role's grants, which event types enabled workflows listen to — is read once per transaction
(``read_once``, and ``workflows.dispatch.listening_read_once`` for the last). On SQLite the group
holds the only write lock, so nothing else can change them meanwhile. On PostgreSQL the group's row
locks keep other writers of those rows out until it commits, but a change another process commits
meanwhile (a role's grants, a workflow enabled) is seen from the next group on — at most the budget
later, which is why the budget there is short (``KEYFLOW_GROUP_COMMIT_SECONDS``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, TypeVar

from django.db import transaction

from directory.transactions import in_caller_savepoint
from executions.errors import StepRolledBack
from executions.models import StepRun

logger = logging.getLogger("keyflow.runner")

T = TypeVar("T")


class CommitGroup:
    """The open group transaction (if any), its pending step records and the claims made in it."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self._stack: ExitStack | None = None
        self._started = 0.0
        # How many transactions this group has opened: a runner checks for a cancel once per transaction.
        self.generation = 0
        self.pending: list[StepRun] = []
        # Executions claimed in the open transaction: if it does not commit, they are queued again.
        self.claimed: list[int] = []
        self._reads: dict[Hashable, Any] = {}
        self._after_commit: list[Callable[[], None]] = []

    @property
    def is_open(self) -> bool:
        return self._stack is not None

    @property
    def broken(self) -> bool:
        """A query outside any step's savepoint failed: the group can only roll back."""
        return self.is_open and transaction.get_rollback()

    def open(self) -> None:
        """Start the group transaction unless one is open."""
        if self._stack is None:
            from workflows.dispatch import listening_read_once

            stack = ExitStack()
            stack.enter_context(transaction.atomic())
            stack.enter_context(listening_read_once())
            self._stack, self._started = stack, time.monotonic()
            self._reads = {}
            self._after_commit = []
            self.generation += 1

    def read_once(self, key: Hashable, load: Callable[[], T]) -> T:
        """``load()``, read once per transaction (see the module's doc); fresh outside one."""
        if self._stack is None:
            return load()
        if key not in self._reads:
            self._reads[key] = load()
        return self._reads[key]

    def remaining(self) -> float:
        """Seconds the open group may still run (0 when none is open or its budget is spent)."""
        if not self.is_open:
            return 0.0
        return max(0.0, self.budget - (time.monotonic() - self._started))

    def spent(self) -> bool:
        """Has the open group used its budget? (A budget of 0 commits before every step.)"""
        return self.is_open and time.monotonic() - self._started >= self.budget

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the open transaction has committed (never if it does not).

        Unlike ``transaction.on_commit`` it fires when the group's own ``atomic()`` ends well, also
        when that is a savepoint in an outer transaction (a test's)."""
        self._after_commit.append(callback)

    def add(self, step: StepRun) -> None:
        """A step record to write with this transaction."""
        self.pending.append(step)

    @contextmanager
    def step(self) -> Iterator[None]:
        """A savepoint around one step. One that Django would roll back without an exception (a
        query in it failed and the action went on) raises ``StepRolledBack``: the step did not
        happen, whatever the action returned."""
        with transaction.atomic(), in_caller_savepoint():  # the services the action calls join it
            yield
            if transaction.get_rollback():
                raise StepRolledBack("a query in the step failed and the step went on; its changes were rolled back")

    def commit(self) -> bool:
        """End the open group; True if it committed, False if it rolled back or none was open.

        Django rolls the transaction back instead of committing when a query in it failed; the
        step records pending for it go with it. Whenever the group does not commit — rolled back,
        or the COMMIT itself failed — the executions claimed in it are handed to workers again.
        """
        if self._stack is None:
            return False
        stack, self._stack = self._stack, None
        self._reads = {}
        pending, self.pending = self.pending, []
        claimed, self.claimed = self.claimed, []
        after, self._after_commit = self._after_commit, []
        committed = False
        try:
            with stack:  # leaving it commits, or rolls back a broken transaction
                broken = transaction.get_rollback()
                if pending and not broken:
                    StepRun.objects.bulk_create(pending)
            committed = not broken
        finally:
            if not committed and claimed:
                _requeue(claimed)
        for callback in after if committed else ():
            callback()
        return committed


def _requeue(execution_ids: list[int]) -> None:
    """Claims rolled back: those executions are queued again; hand them to a worker again."""
    from executions.queue import enqueue_execution

    logger.warning("group transaction did not commit; re-queueing executions %s", execution_ids)
    for pk in execution_ids:
        try:
            enqueue_execution(pk)
        except Exception:  # the sweeper re-enqueues forgotten executions
            logger.exception("could not re-queue execution %s", pk)
