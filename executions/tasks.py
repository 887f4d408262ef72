"""django-q2 tasks: run one execution (and drain the queue), and sweep for lost work.

Tasks receive ids, never objects. A worker claims an execution with a conditional update
(``queued → running``); zero rows updated means another worker has it, or it was cancelled,
and the task returns without doing anything, so a duplicate enqueue is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F
from django.utils import timezone

from executions import claims, wakeups
from executions.choices import ExecutionStatus
from executions.commit_group import CommitGroup
from executions.models import Execution
from executions.queue import enqueue_execution, request_wakeup
from executions.services import executions_wake
from executions.wake_sockets import DrainListener

logger = logging.getLogger("keyflow.worker")


class Heartbeat(threading.Thread):
    """Keeps ``heartbeat_at`` fresh for the execution a worker is running, so the sweeper can tell
    a slow run from a dead one, and notices when the sweeper gave that execution to another worker
    anyway (a higher ``run_count``): the runner then stops without writing more.

    A database error (a locked SQLite file, a dropped PostgreSQL connection) does not end it: the
    connection is closed and the next beat opens a fresh one.
    """

    def __init__(self, interval: float) -> None:
        super().__init__(name="keyflow-heartbeat", daemon=True)
        self.interval = interval
        self.current: tuple[int, int] | None = None
        self.lost_ids: set[int] = set()
        self.stopped = threading.Event()

    def follow(self, execution: Execution) -> Callable[[], bool]:
        """Beat for ``execution`` from now on; returns the runner's "was my claim lost?" check."""
        pk, run_count = execution.pk, execution.run_count
        self.current = (pk, run_count)
        return lambda: pk in self.lost_ids

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                current = self.current
                if current is None:
                    continue
                try:
                    self.beat(*current)
                except DatabaseError:
                    logger.warning("heartbeat for execution %s failed; retrying", current[0], exc_info=True)
                    connection.close()
        finally:
            connection.close()

    def beat(self, execution_id: int, run_count: int) -> None:
        if Execution.objects.filter(pk=execution_id, run_count__gt=run_count).exists():
            self.lost_ids.add(execution_id)
            return
        Execution.objects.filter(pk=execution_id, status=ExecutionStatus.RUNNING, run_count=run_count).update(
            heartbeat_at=timezone.now()
        )

    def rest(self) -> None:
        """No execution to beat for (a drain waiting for new ones)."""
        self.current = None

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + 5)


_NOT_OURS = object()


def run_execution(
    execution_id: int | None, heartbeat: bool = True, drain: bool = False, woken: bool = False
) -> str | None:
    """Claim and run one execution; returns its final status, or None if it was not ours to run.

    With ``drain`` (how workers are handed executions), the task then goes on claiming and
    running the oldest queued executions for up to ``KEYFLOW_DRAIN_SECONDS``, all in one group
    transaction per ``KEYFLOW_GROUP_COMMIT_SECONDS``: under load most executions then cost no
    task hand-over and no commit of their own.

    ``woken``: the task was counted by a coalesced wake-up (``executions.wakeups``). Other
    executions may be relying on it, so it drains even when its own execution (if any) was already
    taken. Once the queue is empty it lingers, still counted, for new executions (unless another
    drain on this machine does): for up to ``KEYFLOW_DRAIN_LINGER_SECONDS`` without any, woken by
    the commits that queue them (so a steady stream of runs costs no task, broker row or hand-over
    each). Then it uncounts itself and drains once more in that same transaction (or uncounts
    alone, if that one does not commit); a drain cut short by its time budget with work left
    requests another task.
    """
    # A task whose execution another worker's drain already took returns without taking the
    # write lock (unless it was woken for the queue as a whole): that drain is still going.
    if not woken and (execution_id is None or not claims.is_queued(execution_id)):
        return None
    from executions.runner import task_time_budget

    deadline = time.monotonic() + task_time_budget()
    group = CommitGroup(settings.KEYFLOW_GROUP_COMMIT_SECONDS)
    beat = Heartbeat(settings.KEYFLOW_HEARTBEAT_SECONDS) if heartbeat else None
    if beat is not None:
        beat.start()
    status, emptied = None, False
    uncounted: list[bool] = []
    try:
        if execution_id is not None:
            result = _run_next(group, beat, lambda: claims.take(execution_id), deadline)
            status = None if result is _NOT_OURS else result
        if drain and (status is not None or woken):
            until = time.monotonic() + settings.KEYFLOW_DRAIN_SECONDS
            emptied = _drain(group, beat, deadline, until)
            if woken:
                if emptied:
                    emptied = _linger(group, beat, deadline, until)
                # Uncounted, then a last look at the queue in the same transaction: what a request
                # left to this task while it was counted is committed by now, and seen.
                if group.broken:
                    group.commit()  # rolls back (its claims are queued again); the uncount must commit
                group.open()
                wakeups.uncount()
                group.after_commit(lambda: uncounted.append(True))
                emptied = _drain(group, beat, deadline, until)
    finally:
        try:
            group.commit()
        finally:
            # Even when the commit fails: a heartbeat left running would keep an execution this task
            # can no longer finish looking alive, and the sweeper would never hand it to a worker again.
            if beat is not None:
                beat.stop()
            if woken and not uncounted:
                _uncount_alone()
            if woken and not emptied:
                _wake_again()
    return status


def _run_next(
    group: CommitGroup, beat: Heartbeat | None, take: Callable[[], Execution | None], deadline: float
) -> object:
    """Claim an execution with ``take`` in the group's transaction and run it; ``_NOT_OURS`` if
    there was none to claim."""
    from executions.runner import Runner

    if group.spent():
        group.commit()
    group.open()
    execution = take()
    if execution is None:
        return _NOT_OURS
    claims.attach(execution, group.read_once)
    group.claimed.append(execution.pk)
    lost = beat.follow(execution) if beat is not None else (lambda: False)
    return Runner(execution, group=group, claim_in_group=True, lost=lost, task_deadline=deadline).run()


def _uncount_alone() -> None:
    """The transaction that lowered the wake-up count did not commit: lower it on its own."""
    try:
        wakeups.started()
    except Exception:  # a count left high is not trusted for long (KEYFLOW_WAKE_STALE_SECONDS)
        logger.exception("could not lower the wake-up count")


def _wake_again() -> None:
    """A woken drain stopped with executions possibly left: make sure a task will come for them."""
    try:
        with transaction.atomic():
            if claims.any_queued():
                request_wakeup(None)
    except Exception:  # the sweeper re-enqueues forgotten executions; do not hide the task's own error
        logger.exception("could not request another drain task")


def _drain(group: CommitGroup, beat: Heartbeat | None, deadline: float, until: float) -> bool:
    """Run queued executions back to back in ``group``; True when none was left, False when the
    time (``until``) ran out first."""
    while time.monotonic() < until:
        if _run_next(group, beat, claims.take_next, deadline) is _NOT_OURS:
            return True
    return False


def _linger(group: CommitGroup, beat: Heartbeat | None, deadline: float, until: float) -> bool:
    """The queue is empty: if no other drain on this machine lingers (``DrainListener``), wait for
    new executions — woken by the commits that queue them, looking every ``Q_POLL`` seconds
    regardless — and drain each arrival, until none came for ``KEYFLOW_DRAIN_LINGER_SECONDS`` or
    until ``until``, or until another kind of task is queued on this machine. False if a drain ran
    out of time with work left. One lingering drain at a time, which steps aside for other tasks,
    keeps worker processes free for them.

    The group is committed first: nothing holds a transaction, or SQLite's write lock, while it waits.
    """
    idle = settings.KEYFLOW_DRAIN_LINGER_SECONDS
    if idle <= 0:
        return True
    with DrainListener() as listener:
        if not listener.listening:
            return True  # another drain lingers: this worker stays free for other tasks (dispatch, schedules)
        poll = settings.Q_CLUSTER.get("poll", 0.2)
        quiet_until = time.monotonic() + idle
        while (left := min(quiet_until, until) - time.monotonic()) > 0:
            group.commit()  # the last drain's group, if open; nothing is held while waiting
            if beat is not None:
                beat.rest()
            listener.wait(min(poll, left))
            if listener.other_task_queued:
                return True  # step aside: a task (an event dispatch) needs this worker process
            if not claims.any_queued():
                continue
            if not _drain(group, beat, deadline, until):
                return False
            quiet_until = time.monotonic() + idle
    return True


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
            status=ExecutionStatus.QUEUED, recovered_count=F("recovered_count") + 1
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


def wake_stranded(*, now: timezone.datetime | None = None, limit: int = 500) -> list[int]:
    """Under coalesced wake-ups, request a drain task when executions have been queued for longer
    than ``KEYFLOW_WAKE_STALE_SECONDS``: the drain counted for them may have died (a killed worker
    process), and the count is not trusted past that age, so the request restarts it. Returns their
    ids if a task was queued; while the count is younger, the request only wakes a lingering drain.
    With every counted drain alive, this costs at most a spare task."""
    if not wakeups.enabled():
        return []
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.KEYFLOW_WAKE_STALE_SECONDS)
    with transaction.atomic():
        stranded = list(
            Execution.objects.filter(status=ExecutionStatus.QUEUED, cancel_requested=False, queued_at__lt=cutoff)
            .order_by("queued_at")
            .values_list("pk", flat=True)[:limit]
        )
        return stranded if stranded and request_wakeup(None) else []


def wake_due(*, now: timezone.datetime | None = None, limit: int = 500) -> list[int]:
    """Queue again the waiting executions whose time has come."""
    now = now or timezone.now()
    due = list(
        Execution.objects.filter(status=ExecutionStatus.WAITING, wake_at__lte=now)
        .order_by("wake_at")
        .values_list("pk", flat=True)[:limit]
    )
    return executions_wake(execution_ids=due) if due else []


def sweep() -> dict[str, list[int]]:
    """The periodic sweeper (a django-q2 schedule): recover lost work, wake waits that are due."""
    from workflows.dispatch import dispatch_pending

    return {
        "dispatched_events": dispatch_pending(),
        "woken": wake_due(),
        "requeued": requeue_stale(),
        "reenqueued": reenqueue_forgotten(),
        "stranded": wake_stranded(),
    }


def prune_history(*, now: timezone.datetime | None = None) -> int:
    """The retention task (scheduled by ``executions.apps``): delete finished executions older than
    ``KEYFLOW_HISTORY_DAYS`` with their steps, a batch per short transaction; returns how many."""
    from executions.services import history_prune

    cutoff = (now or timezone.now()) - timedelta(days=settings.KEYFLOW_HISTORY_DAYS)
    pruned = history_prune(older_than=cutoff, batch_size=settings.KEYFLOW_HISTORY_PRUNE_BATCH)
    if pruned:
        logger.info("pruned %s execution(s) queued before %s", pruned, cutoff.isoformat())
    return pruned
