"""Handing executions to workers through django-q2.

One broker per process: ``async_task`` without ``broker=`` opens a new connection per call,
which made enqueueing about 9× slower with Redis in our measurements.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

from executions import wakeups
from executions.wake_sockets import DRAIN_TASK, OTHER_TASK, wake_drains, wake_local_clusters

RUN_EXECUTION_TASK = "executions.tasks.run_execution"
WAKEABLE_BROKER = "executions.broker.WakeableORM"

_lock = threading.Lock()
_broker: Broker | None = None


def shared_broker() -> Broker:
    """The process-wide broker, created on first use."""
    global _broker
    with _lock:
        if _broker is None:
            _broker = get_broker()
        return _broker


def enqueue_execution(execution_id: int) -> None:
    """Queue an execution for a worker now (use ``enqueue_on_commit`` inside a transaction)."""
    async_task(
        RUN_EXECUTION_TASK, execution_id, drain=True, broker=shared_broker(), task_name=f"execution-{execution_id}"
    )
    _wake_clusters()


def enqueue_wakeup(execution_id: int | None) -> None:
    """Queue a task counted by ``wakeups.request``: it runs ``execution_id`` (if given and still
    queued), then drains the queue whatever became of that one."""
    async_task(
        RUN_EXECUTION_TASK,
        execution_id,
        drain=True,
        woken=True,
        broker=shared_broker(),
        task_name=f"drain-{execution_id}" if execution_id else "drain",
    )
    _wake_clusters()


def _wake_clusters(kind: bytes = DRAIN_TASK) -> None:
    """With the wakeable ORM broker, an idle cluster on this machine looks for the task at once
    (after the commit that makes the task row visible) instead of at its next poll."""
    if settings.Q_CLUSTER.get("broker_class") == WAKEABLE_BROKER:
        transaction.on_commit(partial(wake_local_clusters, kind))


def wake_clusters_for_task() -> None:
    """``_wake_clusters`` for a task that is not a drain (an event dispatch): a drain lingering for
    executions steps aside so that a worker process takes it at once."""
    _wake_clusters(OTHER_TASK)


def enqueue_on_commit(execution_id: int) -> None:
    """Queue an execution with the transaction that created it (ids, not objects).

    With coalesced wake-ups (``executions.wakeups``) a task is enqueued only if too few are
    pending to drain it. With the ORM broker on Keyflow's own database the task row is written
    in that very transaction: a rollback takes both, and it saves a second write transaction
    per run, which on SQLite means a second wait for the write lock. Any other broker is told
    after commit.
    """
    enqueue_many_on_commit([execution_id])


def enqueue_many_on_commit(execution_ids: list[int]) -> None:
    """``enqueue_on_commit`` for several executions created in one transaction (a dispatch
    batch): with coalesced wake-ups, at most ``KEYFLOW_WAKE_TASKS`` tasks for all of them."""
    if wakeups.enabled():
        for execution_id in execution_ids[: settings.KEYFLOW_WAKE_TASKS]:
            if not request_wakeup(execution_id):
                break
        return
    for execution_id in execution_ids:
        _send(partial(enqueue_execution, execution_id))


def request_wakeup(execution_id: int | None) -> bool:
    """In the current transaction: count a drain task and queue it (``enqueue_wakeup``), unless
    enough are pending already; True if one was queued. When enough are, one of them may be a
    drain lingering for new executions (``executions.tasks``): it is woken after the commit."""
    if not wakeups.request():
        transaction.on_commit(wake_drains)
        return False
    _send(partial(enqueue_wakeup, execution_id))
    return True


def _send(enqueue: Callable[[], None]) -> None:
    if _broker_in_default_database():
        enqueue()
    else:
        transaction.on_commit(enqueue)


def _broker_in_default_database() -> bool:
    return settings.Q_CLUSTER.get("orm") == DEFAULT_DB_ALIAS and not settings.Q_CLUSTER.get("sync")
