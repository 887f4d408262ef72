"""A woken drain that emptied the queue lingers for new executions: a steady stream of runs needs
no worker task each, nothing holds the write lock while it waits, and nothing is stranded."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest
from django.db import connection

from executions import queue, wakeups
from executions.models import Execution
from executions.tasks import run_execution
from executions.wake_sockets import (
    DRAIN_TASK,
    OTHER_TASK,
    DrainListener,
    drain_wake_dir,
    wake_drains,
    wake_local_clusters,
)
from workflows.services import workflow_run

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = [{"a": {"call": "test.big", "with": {"size": 1}}}]


@pytest.fixture
def lingering(settings, tmp_path, monkeypatch) -> list[tuple[Any, ...]]:
    """Coalescing with one wake task, a 0.6 s linger, a poll too slow to matter unless a test
    lowers it; the tasks handed to the broker are recorded."""
    settings.VAR_DIR = tmp_path
    settings.KEYFLOW_COALESCE_WAKEUPS = True
    settings.KEYFLOW_WAKE_TASKS = 1
    settings.KEYFLOW_WAKE_STALE_SECONDS = 60
    settings.KEYFLOW_DRAIN_LINGER_SECONDS = 0.6
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "poll": 5}
    sent: list[tuple[Any, ...]] = []
    real = queue.async_task
    monkeypatch.setattr(queue, "async_task", lambda func, *a, **kw: (sent.append(a), real(func, *a, **kw))[1])
    return sent


def _run_later(seconds: float, workflow: Any, actor: Any, out: dict[str, Any]) -> threading.Thread:
    """Queue a run from another thread (its own connection) after ``seconds``; how long the run's
    transaction took, and its id, go to ``out``."""

    def run() -> None:
        time.sleep(seconds)
        started = time.monotonic()
        out["id"] = workflow_run(workflow=workflow, input={}, actor=actor).pk
        out["queued_in"] = time.monotonic() - started
        connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_run_queued_while_a_drain_lingers_is_woken_into_it_without_a_task(lingering, make_workflow, administrator):
    workflow = make_workflow(STEPS)
    first = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert lingering == [(first.pk,)] and wakeups.pending() == 1
    later: dict[str, Any] = {}
    thread = _run_later(0.2, workflow, administrator, later)
    started = time.monotonic()
    assert run_execution(first.pk, heartbeat=False, drain=True, woken=True) == "succeeded"
    took = time.monotonic() - started
    thread.join()
    second = Execution.objects.get(pk=later["id"])
    assert second.status == "succeeded"
    assert lingering == [(first.pk,)]  # the count was full: no task for the second run
    assert (second.started_at - second.queued_at).total_seconds() < 1.0  # woken, not the 5 s poll
    assert 0.7 < took < 3.0  # it waited its linger after the second run, then ended
    assert later["queued_in"] < 0.5  # the waiting drain held no transaction: the run was not kept waiting
    assert wakeups.pending() == 0


def test_a_run_whose_wake_up_is_lost_is_found_by_the_poll(
    lingering, make_workflow, administrator, settings, monkeypatch
):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "poll": 0.05}
    monkeypatch.setattr(queue, "wake_drains", lambda: None)  # e.g. queued on another machine
    workflow = make_workflow(STEPS)
    first = workflow_run(workflow=workflow, input={}, actor=administrator)
    later: dict[str, Any] = {}
    thread = _run_later(0.2, workflow, administrator, later)
    run_execution(first.pk, heartbeat=False, drain=True, woken=True)
    thread.join()
    assert Execution.objects.get(pk=later["id"]).status == "succeeded"
    assert lingering == [(first.pk,)] and wakeups.pending() == 0


def test_a_run_queued_after_the_drain_uncounted_gets_a_task_of_its_own(lingering, make_workflow, administrator):
    workflow = make_workflow(STEPS)
    first = workflow_run(workflow=workflow, input={}, actor=administrator)
    run_execution(first.pk, heartbeat=False, drain=True, woken=True)
    late = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert lingering == [(first.pk,), (late.pk,)]
    assert Execution.objects.get(pk=late.pk).status == "queued" and wakeups.pending() == 1


def test_a_lingering_drain_ends_within_its_time_budget(lingering, make_workflow, administrator, settings):
    settings.KEYFLOW_DRAIN_LINGER_SECONDS = 30
    settings.KEYFLOW_DRAIN_SECONDS = 0.5
    first = workflow_run(workflow=make_workflow(STEPS), input={}, actor=administrator)
    started = time.monotonic()
    run_execution(first.pk, heartbeat=False, drain=True, woken=True)
    assert time.monotonic() - started < 2.0
    assert wakeups.pending() == 0


def test_when_the_count_is_full_a_run_wakes_the_listening_drain_after_its_commit(
    lingering, make_workflow, administrator
):
    workflow = make_workflow(STEPS)
    workflow_run(workflow=workflow, input={}, actor=administrator)
    with DrainListener() as listener:
        assert listener.wait(0) is False and listener.listening
        workflow_run(workflow=workflow, input={}, actor=administrator)  # the count is full: no task
        assert len(lingering) == 1
        assert listener.wait(0.5) is True


def test_one_lingering_drain_listens_and_another_takes_over_when_it_stops(lingering):
    first = DrainListener().__enter__()
    second = DrainListener().__enter__()
    try:
        assert first.listening and not second.listening
        assert [p.name for p in drain_wake_dir().glob("*.sock")] == [f"{os.getpid()}.sock"]
        wake_drains()
        assert first.wait(0) is True
        first.close()
        assert list(drain_wake_dir().glob("*.sock")) == []
        second.wait(0)
        assert second.listening
        wake_drains()
        assert second.wait(0) is True
    finally:
        first.close()
        second.close()


def test_while_another_drain_lingers_a_drain_ends_when_the_queue_is_empty(lingering, make_workflow, administrator):
    first = workflow_run(workflow=make_workflow(STEPS), input={}, actor=administrator)
    with DrainListener() as other:
        assert other.listening
        started = time.monotonic()
        assert run_execution(first.pk, heartbeat=False, drain=True, woken=True) == "succeeded"
        assert time.monotonic() - started < 0.5  # no linger: this worker is free for other tasks
    assert wakeups.pending() == 0


@pytest.mark.parametrize(("kind", "steps_aside"), [(OTHER_TASK, True), (DRAIN_TASK, False)])
def test_a_lingering_drain_steps_aside_for_another_kind_of_task(
    lingering, make_workflow, administrator, settings, kind, steps_aside
):
    settings.KEYFLOW_DRAIN_LINGER_SECONDS = 1.5
    first = workflow_run(workflow=make_workflow(STEPS), input={}, actor=administrator)
    waker = threading.Thread(target=lambda: (time.sleep(0.3), wake_local_clusters(kind)))
    waker.start()
    started = time.monotonic()
    run_execution(first.pk, heartbeat=False, drain=True, woken=True)
    took = time.monotonic() - started
    waker.join()
    assert (took < 1.0) is steps_aside  # an event dispatch, say, gets this worker process at once
    assert wakeups.pending() == 0


def test_an_event_dispatch_task_wakes_the_clusters_as_another_kind_of_task(settings, tmp_path, monkeypatch):
    from workflows import dispatch

    settings.VAR_DIR = tmp_path
    settings.KEYFLOW_DISPATCH_INLINE = False
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "broker_class": queue.WAKEABLE_BROKER}
    monkeypatch.setattr(dispatch, "async_task", lambda *a, **kw: None)
    sent = []
    monkeypatch.setattr(queue, "wake_local_clusters", sent.append)
    dispatch.on_events_committed(None, event_ids=[1, 2])
    assert sent == [OTHER_TASK]
