"""Handing executions to workers through django-q2.

One broker per process: ``async_task`` without ``broker=`` opens a new connection per call,
which made enqueueing about 9× slower with Redis in our measurements.
"""

from __future__ import annotations

import threading
from functools import partial

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

RUN_EXECUTION_TASK = "executions.tasks.run_execution"

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


def enqueue_on_commit(execution_id: int) -> None:
    """Queue an execution with the transaction that created it (ids, not objects).

    With the ORM broker on Keyflow's own database the task row is written in that very
    transaction: a rollback takes both, and it saves a second write transaction per run, which
    on SQLite means a second wait for the write lock. Any other broker is told after commit.
    """
    if _broker_in_default_database():
        enqueue_execution(execution_id)
    else:
        transaction.on_commit(partial(enqueue_execution, execution_id))


def _broker_in_default_database() -> bool:
    return settings.Q_CLUSTER.get("orm") == DEFAULT_DB_ALIAS and not settings.Q_CLUSTER.get("sync")
