"""The heartbeat keeps beating through database errors, and a worker whose claim was taken over
stops without writing."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.db import OperationalError, connections, transaction

from executions import claims
from executions.models import Execution
from executions.runner import Runner
from executions.tasks import Heartbeat
from workflows.services import workflow_run

TWO_STEPS = [{"a": {"call": "test.big", "with": {"size": 1}}}, {"b": {"call": "test.big", "with": {"size": 2}}}]


class FlakyBeat(Heartbeat):
    """A heartbeat whose first beat meets a locked database."""

    def __init__(self) -> None:
        super().__init__(interval=0.01)
        self.beats: list[int] = []
        self.two = threading.Event()

    def beat(self, execution_id: int, run_count: int) -> None:
        self.beats.append(execution_id)
        if len(self.beats) == 1:
            raise OperationalError("database is locked")
        if len(self.beats) >= 2:
            self.two.set()


def test_a_database_error_does_not_stop_the_heartbeat(monkeypatch):
    closed: list[str] = []
    wrapper = type(connections["default"])  # patched on the class: the thread has a connection of its own
    real_close = wrapper.close

    def close(self: Any) -> None:
        closed.append(threading.current_thread().name)
        real_close(self)

    monkeypatch.setattr(wrapper, "close", close)
    beat = FlakyBeat()
    beat.current = (42, 1)
    beat.start()
    try:
        assert beat.two.wait(5), "the heartbeat died on its first error"
        assert beat.is_alive()
    finally:
        beat.stop()
    assert "keyflow-heartbeat" in closed  # the failed connection was closed: the next beat opens a fresh one
    assert beat.beats[:2] == [42, 42]


def test_the_heartbeat_notices_another_worker_took_the_execution(make_workflow, administrator):
    workflow = make_workflow(TWO_STEPS)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    with transaction.atomic():
        claimed = claims.take(execution.pk)
    beat = Heartbeat(interval=60)
    lost = beat.follow(claimed)
    beat.beat(*beat.current)
    assert not lost()
    # The sweeper re-queued it and a second worker claimed it.
    Execution.objects.filter(pk=execution.pk).update(run_count=claimed.run_count + 1)
    beat.beat(*beat.current)
    assert lost()


def test_a_runner_whose_claim_was_lost_stops_and_writes_nothing_more(make_workflow, administrator):
    workflow = make_workflow(TWO_STEPS)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    with transaction.atomic():
        claimed = claims.take(execution.pk)
    steps: list[Any] = []

    def lost() -> bool:
        steps.append(1)
        return len(steps) > 1  # taken over while the first step ran

    assert Runner(claimed, lost=lost).run() is None
    execution.refresh_from_db()
    assert execution.status == "running"  # the other worker writes the outcome
    assert [s.name for s in execution.steps.all()] == ["a"]


@pytest.mark.django_db(transaction=True)
def test_a_real_heartbeat_thread_refreshes_a_running_execution(make_workflow, administrator):
    workflow = make_workflow(TWO_STEPS)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    with transaction.atomic():
        claimed = claims.take(execution.pk)
    first = Execution.objects.get(pk=execution.pk).heartbeat_at
    beat = Heartbeat(interval=0.05)
    beat.follow(claimed)
    beat.start()
    try:
        deadline = time.monotonic() + 5
        while Execution.objects.get(pk=execution.pk).heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        beat.stop()
    assert Execution.objects.get(pk=execution.pk).heartbeat_at > first
