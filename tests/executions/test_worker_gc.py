"""A spawned worker freezes its startup heap out of the garbage collector's view and raises the
young-generation threshold (``executions.worker_gc``)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from django_q.signals import post_spawn


@pytest.fixture
def collector() -> Iterator[None]:
    """Put the collector back as it was: these tests change process-wide state."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_a_spawned_worker_freezes_its_startup_heap_and_raises_the_threshold(collector, settings):
    settings.KEYFLOW_WORKER_GC_THRESHOLD = 12_345
    gc.unfreeze()
    _, older, oldest = gc.get_threshold()

    post_spawn.send(sender="django_q", proc_name="Process-1")

    assert gc.get_freeze_count() > 10_000  # Django and the apps, at least
    assert gc.get_threshold() == (12_345, older, oldest)


def test_a_threshold_of_zero_leaves_the_collector_alone(collector, settings):
    settings.KEYFLOW_WORKER_GC_THRESHOLD = 0
    gc.unfreeze()
    before = gc.get_threshold()

    post_spawn.send(sender="django_q", proc_name="Process-1")

    assert gc.get_freeze_count() == 0
    assert gc.get_threshold() == before


def test_cycles_are_still_collected_automatically_after_tuning(collector, settings):
    settings.KEYFLOW_WORKER_GC_THRESHOLD = 1_000
    post_spawn.send(sender="django_q", proc_name="Process-1")

    class Node:
        other: Node

    refs = []
    for _ in range(5_000):
        a, b = Node(), Node()
        a.other, b.other = b, a  # a cycle: reference counting alone never frees it
        refs.append(weakref.ref(a))
    del a, b

    # No explicit gc.collect(): the raised threshold was crossed several times on the way.
    assert sum(ref() is not None for ref in refs) < 2_000
