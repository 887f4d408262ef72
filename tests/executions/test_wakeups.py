"""Coalesced wake-ups: a burst of executions costs a few worker tasks, and none is stranded."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, transaction
from django.utils import timezone

from executions import claims, queue, wakeups
from executions.models import Execution, QueueWakeup
from executions.tasks import run_execution
from workflows.services import workflow_run

STEPS = [{"a": {"call": "test.big", "with": {"size": 1}}}]


@pytest.fixture
def tasks(settings, monkeypatch) -> list[dict[str, Any]]:
    """Coalescing on, two wake tasks; every task handed to the broker is recorded (and still
    handed over)."""
    settings.KEYFLOW_COALESCE_WAKEUPS = True
    settings.KEYFLOW_WAKE_TASKS = 2
    settings.KEYFLOW_WAKE_STALE_SECONDS = 60
    sent: list[dict[str, Any]] = []
    real = queue.async_task

    def record(func: str, *args: Any, **kwargs: Any) -> Any:
        sent.append({"args": args, "woken": kwargs.get("woken", False)})
        return real(func, *args, **kwargs)

    monkeypatch.setattr(queue, "async_task", record)
    return sent


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Call ``fn`` and run the commit hooks it left (a Redis broker is told after commit, and a
    test's transaction never commits)."""

    def call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return call


@pytest.fixture
def _run(committed, administrator) -> Callable[[Any, int], list[int]]:
    def run(workflow: Any, n: int) -> list[int]:
        return [committed(workflow_run, workflow=workflow, input={}, actor=administrator).pk for _ in range(n)]

    return run


def _statuses(ids: list[int]) -> list[str]:
    by_id = dict(Execution.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[pk] for pk in ids]


def test_a_burst_enqueues_only_as_many_tasks_as_may_be_pending(make_workflow, _run, tasks):
    ids = _run(make_workflow(STEPS), 5)
    assert [(t["args"], t["woken"]) for t in tasks] == [((ids[0],), True), ((ids[1],), True)]
    assert wakeups.pending() == 2


def test_a_woken_task_drains_every_queued_execution_then_uncounts_itself(make_workflow, _run, tasks):
    ids = _run(make_workflow(STEPS), 5)
    assert run_execution(ids[0], heartbeat=False, drain=True, woken=True) == "succeeded"
    assert _statuses(ids) == ["succeeded"] * 5
    assert wakeups.pending() == 1


def test_a_woken_task_lowers_the_count_in_the_group_transaction_of_its_last_look(
    make_workflow, _run, tasks, monkeypatch
):
    """No write transaction of its own for the count, and the queue is looked at after it."""
    ids = _run(make_workflow(STEPS), 2)
    alone = []
    monkeypatch.setattr(wakeups, "started", lambda: alone.append(True))
    events = []
    real_uncount, real_take_next = wakeups.uncount, claims.take_next

    def uncount() -> None:
        events.append(("uncount", connection.in_atomic_block))
        real_uncount()

    def take_next():
        events.append(("look", connection.in_atomic_block))
        return real_take_next()

    monkeypatch.setattr(wakeups, "uncount", uncount)
    monkeypatch.setattr(claims, "take_next", take_next)
    run_execution(ids[0], heartbeat=False, drain=True, woken=True)
    assert events[-2:] == [("uncount", True), ("look", True)] and alone == []
    assert wakeups.pending() == 1


def test_when_the_transaction_that_uncounts_rolls_back_the_count_is_lowered_alone(
    make_workflow, _run, tasks, monkeypatch
):
    ids = _run(make_workflow(STEPS), 2)
    real_uncount = wakeups.uncount
    uncounted = []

    def uncount() -> None:
        real_uncount()
        uncounted.append(True)

    def broken_after_uncount():
        if uncounted:
            transaction.set_rollback(True)  # as when a query outside any step's savepoint failed
        return None

    monkeypatch.setattr(wakeups, "uncount", uncount)
    monkeypatch.setattr(claims, "take_next", broken_after_uncount)
    assert run_execution(ids[0], heartbeat=False, drain=True, woken=True) == "succeeded"
    assert wakeups.pending() == 1  # lowered once: the rolled-back decrement was made again


def test_a_broken_group_is_rolled_back_before_the_task_uncounts(make_workflow, _run, tasks, monkeypatch):
    ids = _run(make_workflow(STEPS), 2)

    def broken(execution_id: int) -> None:
        transaction.set_rollback(True)

    alone = []
    monkeypatch.setattr(wakeups, "started", lambda: alone.append(True))
    monkeypatch.setattr(claims, "take", broken)
    monkeypatch.setattr(claims, "take_next", lambda: None)
    assert run_execution(ids[0], heartbeat=False, drain=True, woken=True) is None
    assert wakeups.pending() == 1 and alone == []  # lowered in a fresh group transaction that committed


def test_a_woken_task_drains_even_when_its_own_execution_was_taken(make_workflow, _run, tasks):
    ids = _run(make_workflow(STEPS), 3)
    assert run_execution(ids[0], heartbeat=False) == "succeeded"  # e.g. by another worker's drain
    assert run_execution(ids[0], heartbeat=False, drain=True, woken=True) is None
    assert _statuses(ids) == ["succeeded"] * 3


def test_once_a_task_has_started_a_new_execution_wakes_another(make_workflow, _run, tasks):
    workflow = make_workflow(STEPS)
    _run(workflow, 3)
    wakeups.started()
    (late,) = _run(workflow, 1)
    assert tasks[-1] == {"args": (late,), "woken": True}
    assert len(tasks) == 3 and wakeups.pending() == 2


def test_a_count_not_lowered_for_too_long_is_not_trusted(make_workflow, _run, tasks):
    workflow = make_workflow(STEPS)
    _run(workflow, 2)
    QueueWakeup.objects.update(updated_at=timezone.now() - timedelta(minutes=5))  # their tasks were lost
    (late,) = _run(workflow, 1)
    assert tasks[-1] == {"args": (late,), "woken": True}
    assert wakeups.pending() == 1  # restarted: the lost tasks no longer hold the count up
    (later,) = _run(workflow, 1)
    assert tasks[-1] == {"args": (later,), "woken": True}


def test_a_drain_cut_short_asks_for_another_task(make_workflow, _run, tasks, settings, committed):
    settings.KEYFLOW_DRAIN_SECONDS = 0
    ids = _run(make_workflow(STEPS), 3)
    assert committed(run_execution, ids[0], heartbeat=False, drain=True, woken=True) == "succeeded"
    assert _statuses(ids) == ["succeeded", "queued", "queued"]
    assert tasks[-1] == {"args": (None,), "woken": True}
    assert wakeups.pending() == 2
    settings.KEYFLOW_DRAIN_SECONDS = 5
    assert run_execution(None, heartbeat=False, drain=True, woken=True) is None
    assert _statuses(ids) == ["succeeded"] * 3


def test_an_emptied_queue_asks_for_nothing_more(make_workflow, _run, tasks):
    ids = _run(make_workflow(STEPS), 2)
    count = len(tasks)
    run_execution(ids[0], heartbeat=False, drain=True, woken=True)
    assert len(tasks) == count


def test_the_counter_row_is_created_when_missing(make_workflow, _run, tasks):
    QueueWakeup.objects.all().delete()  # e.g. a flushed database
    (pk,) = _run(make_workflow(STEPS), 1)
    assert tasks == [{"args": (pk,), "woken": True}]
    assert wakeups.pending() == 1


def test_without_coalescing_every_execution_gets_a_task_of_its_own(make_workflow, _run, tasks, settings):
    settings.KEYFLOW_COALESCE_WAKEUPS = False
    ids = _run(make_workflow(STEPS), 3)
    assert [(t["args"], t["woken"]) for t in tasks] == [((pk,), False) for pk in ids]


def test_the_sweeper_asks_for_a_drain_when_a_dead_drain_left_the_count_full(make_workflow, _run, tasks, committed):
    from executions.tasks import wake_stranded

    (pk,) = _run(make_workflow(STEPS), 1)
    QueueWakeup.objects.update(pending=2)  # both counted drains were killed with their worker processes
    Execution.objects.filter(pk=pk).update(queued_at=timezone.now() - timedelta(seconds=90))
    count = len(tasks)
    assert wake_stranded() == []  # the count is still trusted: a live drain would take it
    assert len(tasks) == count
    QueueWakeup.objects.update(updated_at=timezone.now() - timedelta(minutes=5))
    assert committed(wake_stranded) == [pk]
    assert tasks[-1] == {"args": (None,), "woken": True} and wakeups.pending() == 1
    assert run_execution(None, heartbeat=False, drain=True, woken=True) is None
    assert _statuses([pk]) == ["succeeded"]


def test_the_sweeper_asks_for_nothing_when_nothing_waits_long(make_workflow, _run, tasks):
    from executions.tasks import sweep

    _run(make_workflow(STEPS), 1)  # queued just now: its drain task is on its way
    count = len(tasks)
    assert sweep()["stranded"] == []
    assert len(tasks) == count
