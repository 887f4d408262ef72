"""The worker supervisor: runs django-q2's ``qcluster`` as a child and restarts it when it hangs.

``kill -9`` of one django-q2 worker can leave the whole cluster alive but stuck (django-q2 issues
23, 339, 346): survivors blocked on a queue lock the dead worker held, or the sentinel blocked on
its timer lock. Nothing runs — the sweeper neither — and SIGTERM does not stop it. So
``manage.py worker`` forks ``qcluster`` into a session of its own and watches the workers' progress
stamp (``executions.progress``). When nothing has progressed for ``KEYFLOW_WORKER_STALL_SECONDS``
while work waits (queued executions, broker tasks, running executions whose heartbeat is stale),
seen on two checks in a row, it restarts the cluster: SIGTERM to ``qcluster``, then after
``KEYFLOW_WORKER_STOP_GRACE_SECONDS`` SIGKILL to its whole process group. A cluster that exits on
its own is restarted too (with a growing delay if it keeps failing). A restarted cluster gets
twice the window until it shows progress, doubling again each time it does not (a slow start
under load is not a stall to repeat).
After every start it runs the sweeper once and queues a drain task, because a killed cluster
took its in-memory tasks with it. SIGTERM, SIGINT and SIGHUP stop the cluster the same way and
end the supervisor.

Running executions with a fresh heartbeat hold a restart off (a long step is not a stall), but
no longer than django-q2's own task ``timeout``.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from django.conf import settings
from django.core.management import call_command
from django.db import close_old_connections
from django.db.models import Count, Q
from django.utils import timezone

from config.forking import prepare_to_fork
from executions import progress
from executions.choices import ExecutionStatus
from executions.models import Execution

logger = logging.getLogger("keyflow.supervisor")

# How often the loop wakes to look at the child and at pending signals.
TICK_SECONDS = 0.2
# A queued execution counts as waiting once it is this old (a healthy cluster takes it in ms).
QUEUED_AGE_SECONDS = 5.0
# Restart delays for a cluster that keeps exiting on its own: doubling up to the maximum, and back
# to the first once a cluster has run this long.
BACKOFF_FIRST_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 30.0
STABLE_SECONDS = 60.0
# Each stall restart doubles the next cluster's window until work moves again, up to this factor:
# a cluster slow to start under load, or a database slow for everyone, is not killed over and
# over at the stall rate.
STALL_BACKOFF_MAX = 8


class Child(Protocol):
    """The running cluster, as the supervisor drives it."""

    pid: int

    def exited(self) -> int | None:
        """Its exit status once it has exited (without reaping it), else None."""

    def terminate(self) -> None:
        """Ask it to stop: SIGTERM to the ``qcluster`` process only."""

    def kill_group(self) -> None:
        """SIGKILL to its whole process group: the sentinel and workers too."""

    def reap(self) -> int:
        """Wait for the exited leader and return its status."""


class Clock(Protocol):
    """Time as the supervisor reads it: a fake one in tests, so no test sleeps for real."""

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)


@dataclass(frozen=True)
class Backlog:
    """Work that a healthy cluster would be doing, and work it is doing."""

    queued: int = 0  # executions queued for over QUEUED_AGE_SECONDS
    broker: int = 0  # tasks in the broker no worker took
    stale: int = 0  # running executions whose heartbeat is stale
    busy: int = 0  # running executions whose heartbeat is fresh

    @property
    def waiting(self) -> bool:
        return bool(self.queued or self.broker or self.stale)

    def __str__(self) -> str:
        parts = [
            f"{self.queued} execution(s) queued for over {QUEUED_AGE_SECONDS:g} s" if self.queued else "",
            f"{self.broker} task(s) in the broker" if self.broker else "",
            f"{self.stale} running execution(s) with a stale heartbeat" if self.stale else "",
            f"{self.busy} running execution(s) with a fresh heartbeat" if self.busy else "",
        ]
        return ", ".join(p for p in parts if p) or "nothing"


@dataclass(frozen=True)
class SupervisorConfig:
    stall_seconds: float
    grace_seconds: float
    # How long running executions with fresh heartbeats may hold a restart off.
    busy_limit_seconds: float

    @property
    def check_seconds(self) -> float:
        """How often the progress stamp is read: a few times per stall window, at most every 5 s."""
        return min(max(self.stall_seconds / 6, TICK_SECONDS), 5.0)

    @classmethod
    def from_settings(cls, **overrides: Any) -> SupervisorConfig:
        values = {
            "stall_seconds": settings.KEYFLOW_WORKER_STALL_SECONDS,
            "grace_seconds": settings.KEYFLOW_WORKER_STOP_GRACE_SECONDS,
            "busy_limit_seconds": float(settings.Q_CLUSTER.get("timeout") or 0),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class Supervisor:
    """Keeps one cluster running and moving. The collaborators are injected so the decisions can
    be tested with a fake clock and child; ``manage.py worker`` wires the real ones."""

    def __init__(
        self,
        config: SupervisorConfig,
        *,
        start_child: Callable[[], Child],
        read_progress: Callable[[], float | None],
        read_backlog: Callable[[], Backlog],
        recover: Callable[[], None],
        clock: Clock,
    ) -> None:
        self.config = config
        self.start_child = start_child
        self.read_progress = read_progress
        self.read_backlog = read_backlog
        self.recover = recover
        self.clock = clock
        self.child: Child | None = None
        self.started_at = 0.0
        self.restarts = 0
        self.stop_signal: int | None = None
        self.force = False
        self._failures = 0
        self._next_start_at = 0.0
        self._last_check = float("-inf")
        self._seen_stamp: float | None = None
        self._progress_at = float("-inf")
        self._waiting_since: float | None = None
        self._holding_off = False
        self._fruitless_restarts = 0

    # -- the loop

    def run(self) -> int:
        """Supervise until a stop signal; returns the exit status for the command."""
        try:
            while self.stop_signal is None:
                self.tick()
                if self.stop_signal is None:
                    self.clock.sleep(TICK_SECONDS)
            self._stop_child(f"stopping on {_signal_name(self.stop_signal)}")
        finally:
            if self.child is not None and self.child.exited() is None:
                self.child.kill_group()  # never leave a cluster behind
        return 0

    def handle_signal(self, signum: int, frame: Any = None) -> None:
        """Only records the signal (the loop acts on it): a handler must not take locks (django-q2
        issue 346). A second signal cuts the grace short."""
        if self.stop_signal is not None:
            self.force = True
        self.stop_signal = signum

    def tick(self) -> None:
        """One look at the child: start it, notice it exited, or check that it makes progress."""
        now = self.clock.monotonic()
        if self.child is None:
            if now >= self._next_start_at:
                self._start()
            return
        status = self.child.exited()
        if status is not None:
            self._exited(status, now)
            return
        if now - self._last_check < self.config.check_seconds:
            return
        self._last_check = now
        self._check(now)

    # -- decisions

    def _check(self, now: float) -> None:
        stamp = self.read_progress()
        if stamp != self._seen_stamp:
            self._seen_stamp = stamp
            self._progress_at = now
            self._fruitless_restarts = 0
        idle = now - max(self._progress_at, self.started_at)
        if idle < self.stall_window:
            self._waiting_since = None
            self._holding_off = False
            return
        try:
            backlog = self.read_backlog()
        except Exception:
            logger.warning("could not tell whether work is waiting; leaving the cluster be", exc_info=True)
            return
        if not backlog.waiting:
            self._waiting_since = None
            return
        if self._waiting_since is None:
            # Confirm on the next check: a task enqueued a moment ago is not a stall.
            self._waiting_since = now
            return
        if backlog.busy and idle < self.config.busy_limit_seconds:
            if not self._holding_off:
                logger.info("no progress for %.0f s, but %s: not restarting yet", idle, backlog)
                self._holding_off = True
            return
        self._restart(f"no progress for {idle:.0f} s while {backlog} waited")

    @property
    def stall_window(self) -> float:
        """How long the current cluster may go without progress while work waits."""
        return self.config.stall_seconds * min(2**self._fruitless_restarts, STALL_BACKOFF_MAX)

    def _exited(self, status: int, now: float) -> None:
        assert self.child is not None
        uptime = now - self.started_at
        logger.error("cluster %s exited with status %s after %.0f s; restarting", self.child.pid, status, uptime)
        self.child.kill_group()  # whatever it left behind (an orphaned sentinel would keep working)
        self.child.reap()
        self.child = None
        self._failures = 1 if uptime >= STABLE_SECONDS else self._failures + 1
        delay = min(BACKOFF_FIRST_SECONDS * 2 ** (self._failures - 1), BACKOFF_MAX_SECONDS)
        self._next_start_at = now + delay
        self.restarts += 1

    def _restart(self, reason: str) -> None:
        assert self.child is not None
        logger.error("cluster %s stalled: %s; restarting it", self.child.pid, reason)
        self._stop_child("stalled")
        self.restarts += 1
        self._fruitless_restarts += 1
        if self.stop_signal is None:
            self._start()

    # -- actions

    def _start(self) -> None:
        self.child = self.start_child()
        self.started_at = self.clock.monotonic()
        # Only what this cluster writes counts (a dying one may have touched the stamp).
        self._seen_stamp = self.read_progress()
        self._waiting_since = None
        self._holding_off = False
        logger.info("cluster %s started (stall after %g s without progress)", self.child.pid, self.stall_window)
        try:
            self.recover()
        except Exception:
            logger.warning("could not recover lost work after starting the cluster", exc_info=True)

    def _stop_child(self, reason: str) -> None:
        """SIGTERM to ``qcluster``; after the grace (or a second signal) SIGKILL to its group."""
        child = self.child
        if child is None:
            return
        logger.info("%s: stopping cluster %s", reason, child.pid)
        child.terminate()
        deadline = self.clock.monotonic() + self.config.grace_seconds
        while child.exited() is None and self.clock.monotonic() < deadline and not self.force:
            self.clock.sleep(TICK_SECONDS)
        if child.exited() is None:
            logger.warning("cluster %s did not stop; killing its process group", child.pid)
        # Also after a clean exit: a worker it failed to stop must not live on.
        child.kill_group()
        logger.info("cluster %s stopped (status %s)", child.pid, child.reap())
        self.child = None


def _signal_name(signum: int | None) -> str:
    try:
        return signal.Signals(signum).name if signum is not None else "request"
    except ValueError:
        return str(signum)


# -- the real collaborators


class ClusterProcess:
    """``qcluster`` forked from the supervisor, in a session (and process group) of its own, so
    that signals meant for the supervisor (a terminal's Ctrl-C, a group-wide SIGTERM) do not reach
    the cluster's processes behind its back, and one ``killpg`` takes all of them.

    Forked rather than started as a new program: the supervisor has loaded Django, the URL
    configuration and the engine, and frozen them (``config.forking``), so the cluster and the
    processes django-q2 forks from it share those pages instead of each loading its own.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    @classmethod
    def start(cls) -> ClusterProcess:
        prepare_to_fork(settings.ROOT_URLCONF, *CLUSTER_MODULES)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the cluster: never returns into the supervisor's code
            os._exit(_run_cluster())
        return cls(pid)

    def exited(self) -> int | None:
        if self.returncode is not None:
            return self.returncode
        if not hasattr(os, "waitid"):  # macOS
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return None
            self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode
        # WNOWAIT leaves the leader a zombie, so its pid (the group's id) cannot be reused before
        # ``kill_group`` has run.
        info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        if info is None:
            return None
        return -info.si_status if info.si_code in (os.CLD_KILLED, os.CLD_DUMPED) else info.si_status

    def terminate(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def reap(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode


# What the cluster's processes run, imported before the fork (besides the URL configuration, which
# the API actions use); httpx too, which the actions import only when they send.
CLUSTER_MODULES = ("django_q.cluster", "executions.tasks", "executions.runner", "workflows.actions", "httpx")


def _run_cluster() -> int:
    """The forked child: django-q2's ``qcluster`` until it stops; its exit status."""
    try:
        os.setsid()
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)  # the supervisor's handlers are not the cluster's
        call_command("qcluster")
        # ``qcluster`` returns once its sentinel runs; as a program it would then wait for it at exit.
        for child in multiprocessing.active_children():
            child.join()
        return 0
    except BaseException:
        logger.exception("the cluster failed")
        return 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


def read_backlog() -> Backlog:
    """What the database and the broker say is waiting (see ``Backlog``)."""
    from executions.queue import shared_broker

    close_old_connections()  # a connection past its age or broken since the last look
    now = timezone.now()
    fresh = Q(heartbeat_at__gte=now - timedelta(seconds=settings.KEYFLOW_STALE_AFTER_SECONDS))
    queued = Execution.objects.filter(
        status=ExecutionStatus.QUEUED, cancel_requested=False, queued_at__lt=now - timedelta(seconds=QUEUED_AGE_SECONDS)
    ).count()
    running = Execution.objects.filter(status=ExecutionStatus.RUNNING).aggregate(
        busy=Count("pk", filter=fresh), total=Count("pk")
    )
    return Backlog(
        queued=queued,
        broker=shared_broker().queue_size() or 0,
        stale=running["total"] - running["busy"],
        busy=running["busy"],
    )


def recover_lost_work() -> None:
    """Run the sweeper now (the stalled cluster did not) and queue one drain task for executions
    whose task the old cluster held in memory; a spare task is harmless (claims are conditional)."""
    from executions.queue import enqueue_wakeup
    from executions.tasks import sweep

    close_old_connections()
    found = sweep()
    if any(found.values()):
        logger.info("sweeper after start: %s", {k: len(v) for k, v in found.items()})
    if Execution.objects.filter(status=ExecutionStatus.QUEUED, cancel_requested=False).exists():
        enqueue_wakeup(None)


def supervisor_from_settings(**overrides: Any) -> Supervisor:
    """The supervisor ``manage.py worker`` runs."""
    return Supervisor(
        SupervisorConfig.from_settings(**overrides),
        start_child=ClusterProcess.start,
        read_progress=progress.last_progress,
        read_backlog=read_backlog,
        recover=recover_lost_work,
        clock=SystemClock(),
    )
