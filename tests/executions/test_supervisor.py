"""The worker supervisor's decisions, with a fake clock and a fake cluster (no processes, no sleeps),
and its database probes against the test database."""

from __future__ import annotations

import signal
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from executions import supervisor as sup
from executions.models import Execution
from executions.supervisor import Backlog, Supervisor, SupervisorConfig

# Off the 5 s check grid, so no assertion depends on how a float lands on a boundary.
STALL = 58.0
GRACE = 10.0


class FakeClock:
    """Time moves only when the supervisor sleeps; ``at`` schedules things to happen then."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept = 0.0
        self._due: list[tuple[float, Callable[[], None]]] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds
        for item in [d for d in self._due if d[0] <= self.now]:
            self._due.remove(item)
            item[1]()

    def at(self, when: float, action: Callable[[], None]) -> None:
        self._due.append((when, action))


class FakeCluster:
    """A cluster that exits on SIGTERM after ``term_delay`` seconds (never, if None)."""

    def __init__(self, clock: FakeClock, pid: int, term_delay: float | None = 1.0) -> None:
        self.clock = clock
        self.pid = pid
        self.term_delay = term_delay
        self.status: int | None = None
        self.terminated_at: float | None = None
        self.killed_at: float | None = None
        self.reaped = False

    def exited(self) -> int | None:
        return self.status

    def terminate(self) -> None:
        self.terminated_at = self.clock.now
        if self.term_delay is not None:
            self.clock.at(self.clock.now + self.term_delay, lambda: self.exit(0))

    def kill_group(self) -> None:
        self.killed_at = self.clock.now
        if self.status is None:
            self.status = -signal.SIGKILL

    def reap(self) -> int:
        assert self.status is not None, "reaping a running process would block"
        self.reaped = True
        return self.status

    def exit(self, status: int) -> None:
        if self.status is None:
            self.status = status


class Harness:
    """A supervisor wired to fakes; ``stamp`` and ``backlog`` are what the probes answer."""

    def __init__(self, *, stall: float = STALL, grace: float = GRACE, busy_limit: float = 300.0, **cluster: Any):
        self.clock = FakeClock()
        self.clusters: list[FakeCluster] = []
        self.cluster_options = cluster
        self.stamp: float | None = 1.0
        self.backlog = Backlog()
        self.backlog_error: Exception | None = None
        self.recovered = 0
        self.backlog_reads = 0
        self.supervisor = Supervisor(
            SupervisorConfig(stall_seconds=stall, grace_seconds=grace, busy_limit_seconds=busy_limit),
            start_child=self._start,
            read_progress=lambda: self.stamp,
            read_backlog=self._backlog,
            recover=self._recover,
            clock=self.clock,
        )

    def _start(self) -> FakeCluster:
        cluster = FakeCluster(self.clock, pid=100 + len(self.clusters), **self.cluster_options)
        self.clusters.append(cluster)
        return cluster

    def _backlog(self) -> Backlog:
        self.backlog_reads += 1
        if self.backlog_error is not None:
            raise self.backlog_error
        return self.backlog

    def _recover(self) -> None:
        self.recovered += 1

    def run_until(self, done: Callable[[], bool], limit: float = 600.0) -> None:
        until = self.clock.now + limit
        while not done():
            assert self.clock.now < until, "never happened"
            self.supervisor.tick()
            self.clock.sleep(sup.TICK_SECONDS)

    def run_for(self, seconds: float, *, progressing: bool = False) -> None:
        """Run the loop for ``seconds`` of fake time; with ``progressing`` the stamp moves every tick."""
        until = self.clock.now + seconds
        while self.clock.now < until and self.supervisor.stop_signal is None:
            if progressing:
                self.stamp = (self.stamp or 0) + 1
            self.supervisor.tick()
            self.clock.sleep(sup.TICK_SECONDS)

    @property
    def cluster(self) -> FakeCluster:
        return self.clusters[-1]


WAITING = Backlog(queued=3)


def test_restarts_a_cluster_that_made_no_progress_while_work_waited():
    h = Harness()
    h.run_for(1)
    first = h.cluster
    h.backlog = WAITING
    h.run_for(STALL - 2)
    assert len(h.clusters) == 1  # not yet stalled
    h.run_for(10)
    assert len(h.clusters) == 2
    assert first.terminated_at is not None and first.killed_at is not None and first.reaped
    # SIGKILL right after a prompt exit (leftovers), never before SIGTERM had its chance.
    assert first.killed_at - first.terminated_at == pytest.approx(1.0, abs=sup.TICK_SECONDS * 2)
    assert h.supervisor.restarts == 1
    assert h.recovered == 2  # after the first start and after the restart


def test_the_stall_window_counts_from_the_last_progress():
    h = Harness()
    h.backlog = WAITING
    h.run_for(STALL * 3, progressing=True)
    assert len(h.clusters) == 1
    assert h.backlog_reads == 0  # the database is not asked while work moves
    h.run_for(STALL - 6)  # the stamp stopped moving just now
    assert len(h.clusters) == 1
    h.run_for(20)
    assert len(h.clusters) == 2


def test_an_idle_cluster_is_left_alone():
    h = Harness()
    h.backlog = Backlog(busy=0)
    h.run_for(STALL * 10)
    assert len(h.clusters) == 1
    assert h.backlog_reads > 0


def test_work_seen_waiting_once_is_not_a_stall():
    """A task enqueued a moment before the check must not restart a healthy idle cluster: the next
    check finds it taken (the stamp moved, or nothing waits any more)."""
    h = Harness()
    h.run_for(STALL + 1)
    reads = h.backlog_reads
    h.backlog = Backlog(broker=1)
    h.run_until(lambda: h.backlog_reads == reads + 1)
    h.backlog = Backlog()
    h.run_for(STALL)
    assert len(h.clusters) == 1


@pytest.mark.parametrize(
    "backlog", [Backlog(queued=1), Backlog(broker=2), Backlog(stale=1)], ids=["queued", "broker", "stale"]
)
def test_each_kind_of_waiting_work_counts(backlog):
    h = Harness()
    h.backlog = backlog
    h.run_for(STALL + 15)
    assert len(h.clusters) == 2


def test_running_executions_with_a_fresh_heartbeat_hold_a_restart_off_until_the_task_timeout():
    h = Harness(busy_limit=298.0)
    h.backlog = Backlog(queued=5, busy=2)
    h.run_for(290)
    assert len(h.clusters) == 1
    h.run_for(20)
    assert len(h.clusters) == 2


def test_a_fresh_cluster_gets_a_whole_stall_window():
    h = Harness()
    h.run_for(STALL * 5)  # idle: the stamp is old by now
    h.backlog = WAITING
    h.run_until(lambda: len(h.clusters) == 2)  # the old stamp counts: restarted at the first checks
    assert h.clusters[0].terminated_at - 1000 < STALL * 5 + 15
    restarted_at = h.supervisor.started_at
    h.run_until(lambda: len(h.clusters) == 3)
    assert h.clusters[1].terminated_at - restarted_at >= STALL


def test_a_restart_after_which_nothing_moved_doubles_the_next_window():
    """A cluster slow to start under load (or a database slow for everyone) is not killed over
    and over at the stall rate."""
    h = Harness()
    h.backlog = WAITING
    h.run_until(lambda: len(h.clusters) == 2)
    windows = []
    for n in range(2, 7):
        started = h.supervisor.started_at
        h.run_until(lambda n=n: len(h.clusters) == n + 1)
        windows.append((h.clusters[n - 1].terminated_at - started) / STALL)
    assert [int(w) for w in windows] == [2, 4, 8, 8, 8]
    # Progress resets it.
    h.stamp = 2.0
    h.run_for(sup.SupervisorConfig(STALL, GRACE, 300).check_seconds + 1)
    moved = h.clock.now
    h.run_until(lambda: len(h.clusters) == 8)
    assert STALL <= h.clusters[6].terminated_at - moved < STALL + 15


def test_a_cluster_that_ignores_sigterm_is_killed_after_the_grace():
    h = Harness(term_delay=None)
    h.backlog = WAITING
    h.run_for(STALL + 15)
    first = h.clusters[0]
    assert first.killed_at - first.terminated_at == pytest.approx(GRACE, abs=sup.TICK_SECONDS * 2)
    assert first.status == -signal.SIGKILL
    assert len(h.clusters) == 2


def test_a_cluster_that_exits_is_restarted_with_a_growing_delay():
    h = Harness()
    h.run_for(1)
    starts = []
    for _ in range(7):
        h.cluster.exit(1)
        started = len(h.clusters)
        exited_at = h.clock.now
        h.run_for(40)
        assert len(h.clusters) == started + 1
        assert h.clusters[-2].killed_at is not None and h.clusters[-2].reaped  # its leftovers are killed
        starts.append(h.supervisor.started_at - exited_at)
    assert [round(s) for s in starts] == [1, 2, 4, 8, 16, 30, 30]
    # A cluster that ran for a while and then exits is restarted at once again.
    h.run_for(sup.STABLE_SECONDS + 1)
    h.cluster.exit(1)
    exited_at = h.clock.now
    h.run_for(5)
    assert h.supervisor.started_at - exited_at == pytest.approx(1.0, abs=sup.TICK_SECONDS * 2)
    assert h.recovered == len(h.clusters)


def test_a_stop_signal_stops_the_cluster_and_ends_the_loop():
    h = Harness(term_delay=2.0)
    h.clock.at(h.clock.now + 5, lambda: h.supervisor.handle_signal(signal.SIGTERM))
    assert h.supervisor.run() == 0
    assert len(h.clusters) == 1
    cluster = h.cluster
    assert cluster.terminated_at == pytest.approx(1005, abs=sup.TICK_SECONDS * 2)
    assert cluster.status == 0 and cluster.reaped
    assert cluster.killed_at - cluster.terminated_at == pytest.approx(2.0, abs=sup.TICK_SECONDS * 2)
    assert h.supervisor.child is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
def test_sigint_and_sighup_stop_it_too(signum):
    h = Harness()
    h.clock.at(h.clock.now + 1, lambda: h.supervisor.handle_signal(signum))
    assert h.supervisor.run() == 0
    assert h.cluster.terminated_at is not None and h.cluster.reaped


def test_a_second_signal_cuts_the_grace_short():
    h = Harness(term_delay=None)
    h.clock.at(h.clock.now + 1, lambda: h.supervisor.handle_signal(signal.SIGTERM))
    h.clock.at(h.clock.now + 3, lambda: h.supervisor.handle_signal(signal.SIGTERM))
    h.supervisor.run()
    assert h.cluster.killed_at - h.cluster.terminated_at == pytest.approx(2.0, abs=sup.TICK_SECONDS * 2)


def test_a_stop_signal_during_a_restart_starts_no_new_cluster():
    h = Harness(term_delay=None)
    h.backlog = WAITING
    h.run_for(STALL + 4)
    assert h.cluster.terminated_at is None
    h.clock.at(h.clock.now + 6, lambda: h.supervisor.handle_signal(signal.SIGTERM))  # inside the restart's grace
    h.supervisor.run()
    assert len(h.clusters) == 1
    assert h.cluster.status == -signal.SIGKILL


def test_a_failing_probe_or_recovery_does_not_stop_the_supervisor():
    h = Harness()
    h.backlog_error = RuntimeError("database is locked")
    h.run_for(STALL * 3)
    assert len(h.clusters) == 1

    def broken() -> None:
        raise RuntimeError("no broker")

    h.supervisor.recover = broken
    h.backlog_error = None
    h.backlog = WAITING
    h.run_for(STALL + 15)
    assert len(h.clusters) >= 2


def test_check_interval_follows_the_stall_window():
    assert SupervisorConfig(60, 10, 300).check_seconds == 5
    assert SupervisorConfig(6, 10, 300).check_seconds == 1
    assert SupervisorConfig(0.5, 10, 300).check_seconds == sup.TICK_SECONDS


# -- the probes, against the database


@pytest.fixture(autouse=True)
def _keep_the_test_connection(monkeypatch):
    """The probes drop stale connections first; inside a test's transaction that would close the
    test's own connection (Django sees autocommit off and calls it unusable)."""
    monkeypatch.setattr(sup, "close_old_connections", lambda: None)


@pytest.fixture
def make_execution(make_workflow) -> Callable[..., Execution]:
    workflow = make_workflow([{"noop": {"call": "test.flaky", "with": {}}}])

    def make(status: str, *, queued_ago: float = 0.0, heartbeat_ago: float | None = None) -> Execution:
        now = timezone.now()
        execution = Execution.objects.create(
            workflow=workflow, version=workflow.current_version, trigger_kind="manual", status=status
        )
        Execution.objects.filter(pk=execution.pk).update(
            queued_at=now - timedelta(seconds=queued_ago),
            heartbeat_at=None if heartbeat_ago is None else now - timedelta(seconds=heartbeat_ago),
        )
        return execution

    return make


@pytest.mark.django_db
def test_read_backlog_counts_what_waits(make_execution, settings, monkeypatch):
    settings.KEYFLOW_STALE_AFTER_SECONDS = 60
    monkeypatch.setattr("executions.queue.shared_broker", lambda: type("B", (), {"queue_size": lambda self: 2})())
    make_execution("queued", queued_ago=1)  # just queued: a healthy cluster is about to take it
    make_execution("queued", queued_ago=30)
    make_execution("running", heartbeat_ago=5)
    make_execution("running", heartbeat_ago=120)
    make_execution("running", heartbeat_ago=None)
    make_execution("waiting", queued_ago=300)
    make_execution("succeeded", queued_ago=300)
    cancelled = make_execution("queued", queued_ago=30)
    Execution.objects.filter(pk=cancelled.pk).update(cancel_requested=True)
    assert sup.read_backlog() == Backlog(queued=1, broker=2, stale=2, busy=1)


@pytest.mark.django_db
def test_read_backlog_of_an_idle_system_waits_for_nothing(make_execution):
    from executions.queue import shared_broker

    shared_broker().purge_queue()
    make_execution("succeeded", queued_ago=300)
    assert not sup.read_backlog().waiting


@pytest.mark.django_db
def test_recovery_requeues_stale_runs_and_queues_a_drain_task(make_execution, settings, monkeypatch):
    settings.KEYFLOW_STALE_AFTER_SECONDS = 60
    sent: list[tuple[Any, ...]] = []
    monkeypatch.setattr("executions.queue.async_task", lambda *args, **kwargs: sent.append((args, kwargs)))
    stale = make_execution("running", heartbeat_ago=120)
    live = make_execution("running", heartbeat_ago=5)
    sup.recover_lost_work()
    assert Execution.objects.get(pk=stale.pk).status == "queued"
    assert Execution.objects.get(pk=live.pk).status == "running"
    funcs = [(args[0], args[1], kwargs.get("woken", False)) for args, kwargs in sent]
    assert ("executions.tasks.run_execution", stale.pk, False) in funcs  # the sweeper's re-queue
    assert ("executions.tasks.run_execution", None, True) in funcs  # a drain for tasks lost in memory


@pytest.mark.django_db
def test_recovery_queues_no_drain_task_when_nothing_is_queued(monkeypatch):
    sent: list[Any] = []
    monkeypatch.setattr("executions.queue.async_task", lambda *args, **kwargs: sent.append(args))
    sup.recover_lost_work()
    assert sent == []


@pytest.mark.parametrize(("option", "value"), [("stall_seconds", 0), ("grace_seconds", -1)])
def test_the_command_refuses_nonsense_windows(option, value):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=option.replace("_", "-")):
        call_command("worker", **{option: value})


def test_the_command_options_override_the_settings(settings):
    settings.KEYFLOW_WORKER_STALL_SECONDS = 60
    config = SupervisorConfig.from_settings(stall_seconds=7.5, grace_seconds=None)
    assert (config.stall_seconds, config.grace_seconds) == (7.5, settings.KEYFLOW_WORKER_STOP_GRACE_SECONDS)
