"""The wakeable ORM broker: an idle cluster looks for a task as soon as one is committed on this
machine, not at its next poll; without a wake-up it polls as before."""

from __future__ import annotations

import threading
import time

import pytest
from django_q.models import OrmQ

from executions.broker import WakeableORM
from executions.wake_sockets import wake_dir, wake_local_clusters
from workflows.services import workflow_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def broker(settings, tmp_path) -> WakeableORM:
    settings.VAR_DIR = tmp_path
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "broker_class": "executions.broker.WakeableORM", "poll": 5}
    return WakeableORM(list_key=settings.Q_CLUSTER["name"])


def _later(seconds: float, fn) -> threading.Thread:
    thread = threading.Thread(target=lambda: (time.sleep(seconds), fn()))
    thread.start()
    return thread


def test_an_idle_wait_ends_when_a_task_is_committed_on_this_machine(broker):
    broker._wait(0)  # makes its socket, as the polling process does on its first look
    assert list(wake_dir().glob("*.sock"))
    waker = _later(0.05, wake_local_clusters)
    started = time.monotonic()
    broker._wait(5)
    waker.join()
    assert time.monotonic() - started < 1.0


def test_without_a_wake_up_it_waits_its_poll(broker):
    broker._wait(0)
    started = time.monotonic()
    broker._wait(0.2)
    assert time.monotonic() - started >= 0.19


def test_a_gone_clusters_socket_is_removed_and_waking_never_fails(broker, tmp_path):
    gone = wake_dir() / "999999.sock"
    wake_dir().mkdir(parents=True, exist_ok=True)
    import socket

    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(gone))
    dead.close()  # the file stays, nobody listens
    wake_local_clusters()
    assert not gone.exists()


def test_a_queued_run_wakes_the_broker_after_its_commit_and_is_taken(
    broker, make_workflow, administrator, settings, monkeypatch
):
    monkeypatch.setattr("executions.queue._broker", broker)
    settings.KEYFLOW_COALESCE_WAKEUPS = False
    workflow = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}])
    broker._wait(0)
    _later(0.05, lambda: workflow_run(workflow=workflow, input={}, actor=administrator))
    started = time.monotonic()
    broker._wait(5)  # woken by the run's commit
    assert time.monotonic() - started < 1.0
    taken = broker.dequeue()
    assert taken and OrmQ.objects.count() == 1  # locked for this cluster, deleted when acknowledged


def test_a_due_task_is_taken_once_and_locked_for_the_retry_time(broker, settings):
    from django.utils import timezone
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "poll": 0.01}
    task = OrmQ.objects.create(key=broker.list_key, payload="signed-package", lock=timezone.now())
    OrmQ.objects.create(key="another-cluster", payload="not ours", lock=timezone.now())
    before = timezone.now()
    assert broker.dequeue() == [(task.pk, "signed-package")]
    task.refresh_from_db()
    assert task.lock >= before + timezone.timedelta(seconds=Conf.RETRY)
    assert broker.dequeue() is None  # locked: nothing due, it waited its poll instead


def test_a_task_another_cluster_locked_first_is_left_to_it(broker, monkeypatch):
    from django.utils import timezone

    task = OrmQ.objects.create(key=broker.list_key, payload="p", lock=timezone.now())
    later = timezone.now() + timezone.timedelta(seconds=60)
    real_timeout = broker.timeout

    def another_cluster_locks_it_meanwhile(task_):  # between the look and the lock
        OrmQ.objects.filter(pk=task.pk).update(lock=later)
        return real_timeout(task_)

    monkeypatch.setattr(broker, "timeout", another_cluster_locks_it_meanwhile)
    assert broker.dequeue() == []
    task.refresh_from_db()
    assert task.lock == later
