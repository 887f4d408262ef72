"""django-q2 tasks: run one execution, and sweep for lost work.

Tasks receive ids, never objects. A worker claims an execution with a conditional update
(``queued → running``); zero rows updated means another worker has it, or it was cancelled,
and the task returns without doing anything, so a duplicate enqueue is harmless.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from directory.rows import load_joined, load_rows, select_columns
from directory.transaction_memo import memoised
from executions import statements, wakeups
from executions.choices import ExecutionStatus
from executions.commit_group import CommitGroup
from executions.models import Execution
from executions.queue import enqueue_execution, request_wakeup
from executions.statements import claim  # noqa: F401  (claiming is part of the worker's API)

logger = logging.getLogger("keyflow.worker")


class Heartbeat(threading.Thread):
    """Refreshes ``heartbeat_at`` of the execution a worker is running, so the sweeper can tell a
    slow run from a dead one. ``current`` follows the worker from one execution to the next."""

    def __init__(self, execution_id: int | None, interval: float) -> None:
        super().__init__(name="keyflow-heartbeat", daemon=True)
        self.current = execution_id
        self.interval = interval
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                if self.current is not None:
                    Execution.objects.filter(pk=self.current, status=ExecutionStatus.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
        finally:
            connection.close()

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=self.interval + 5)


def _load(execution_id: int) -> Execution | None:
    """The execution if it is still queued (else None), with its workflow, run-as role and pinned
    version from the group's memo: executions drained back to back mostly share them, and they
    cannot change under the group's transaction (see ``directory.transaction_memo``)."""
    execution = statements.load_queued(execution_id)
    return _attach(execution) if execution is not None else None


def _attach(execution: Execution) -> Execution:
    """Give ``execution`` its workflow (with run-as role) and version from the group's memo."""
    execution.workflow = memoised(("workflow", execution.workflow_id), lambda: _workflow(execution.workflow_id))
    execution.version = memoised(("workflow_version", execution.version_id), lambda: _version(execution.version_id))
    return execution


def _workflow(workflow_id: int) -> Any:
    """The workflow with its run-as role, the role's group and principal: one prepared join
    (``select_related`` compiled the same query on every group transaction; a worker that
    steps aside for waiting writers starts one per execution)."""
    from workflows.models import Workflow

    rows = load_joined(_workflow_models(), _workflow_sql(connection.vendor), [workflow_id])
    if not rows:
        raise Workflow.DoesNotExist(f"workflow {workflow_id} does not exist")
    workflow, role, group, principal = rows[0]
    Workflow._meta.get_field("run_as").set_cached_value(workflow, role)
    # Both sides of the role's one-to-one links, as ``select_related`` caches them.
    for name, related in (("group", group), ("principal", principal)):
        field = type(role)._meta.get_field(name)
        field.set_cached_value(role, related)
        if related is not None:
            field.remote_field.set_cached_value(related, role)
    return workflow


def _version(version_id: int) -> Any:
    from workflows.models import WorkflowVersion

    rows = load_rows(WorkflowVersion, _version_sql(connection.vendor), [version_id])
    if not rows:
        raise WorkflowVersion.DoesNotExist(f"workflow version {version_id} does not exist")
    return rows[0]


@cache
def _workflow_models() -> tuple[type, ...]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from directory.models import AdminRole
    from workflows.models import Workflow

    return (Workflow, AdminRole, Group, get_user_model())


@cache
def _workflow_sql(vendor: str) -> str:
    workflow, role, group, principal = _workflow_models()
    qn = connection.ops.quote_name

    def table(model: type) -> str:
        return qn(model._meta.db_table)

    return (
        f"SELECT {', '.join(select_columns(m) for m in (workflow, role, group, principal))}"
        f" FROM {table(workflow)}"
        f" INNER JOIN {table(role)} ON {table(role)}.{qn('id')} = {table(workflow)}.{qn('run_as_id')}"
        f" INNER JOIN {table(group)} ON {table(group)}.{qn('id')} = {table(role)}.{qn('group_id')}"
        f" LEFT JOIN {table(principal)} ON {table(principal)}.{qn('id')} = {table(role)}.{qn('principal_id')}"
        f" WHERE {table(workflow)}.{qn('id')} = %s"
    )


@cache
def _version_sql(vendor: str) -> str:
    from workflows.models import WorkflowVersion

    qn = connection.ops.quote_name
    table = qn(WorkflowVersion._meta.db_table)
    return f"SELECT {select_columns(WorkflowVersion)} FROM {table} WHERE {table}.{qn('id')} = %s"


def run_execution(
    execution_id: int | None, heartbeat: bool = True, drain: bool = False, woken: bool = False
) -> str | None:
    """Claim and run one execution; returns its final status, or None if it was not ours to run.

    With ``drain`` (how workers are handed executions), the task then goes on claiming and
    running the oldest queued executions for up to ``KEYFLOW_DRAIN_SECONDS``, all in one group
    transaction per ``KEYFLOW_GROUP_COMMIT_SECONDS``: under load most executions then cost no
    task hand-over, no commit and no separate claim transaction of their own.

    ``woken``: the task was counted by a coalesced wake-up (``executions.wakeups``). Other
    executions may be relying on it, so it uncounts itself first and drains even when its own
    execution (if any) was already taken; a drain cut short by its time budget with work left
    requests another task.
    """
    from executions.runner import Runner

    if woken:
        wakeups.started()
    # Read first (no write lock), claim in the runner's first transaction: one commit fewer.
    # A task whose execution another worker's drain already took returns at once (unless it
    # was woken for the queue as a whole): that drain is still going.
    execution = _load(execution_id) if execution_id is not None else None
    if execution is None and not woken:
        return None
    group = CommitGroup(settings.KEYFLOW_GROUP_COMMIT_SECONDS)
    beat = Heartbeat(execution_id, settings.KEYFLOW_HEARTBEAT_SECONDS) if heartbeat else None
    if beat is not None:
        beat.start()
    status, emptied = None, False
    try:
        if execution is not None:
            status = Runner(execution, claim=True, group=group).run()
        if drain and (status is not None or woken):
            emptied = _drain(group, beat)
    finally:
        group.commit()
        if beat is not None:
            beat.stop()
        if woken and not emptied:
            _wake_again()
    return status


def _wake_again() -> None:
    """A woken drain stopped with executions possibly left: make sure a task will come for them."""
    try:
        with transaction.atomic():
            if statements.next_queued_id() is not None:
                request_wakeup(None)
    except Exception:  # the sweeper re-enqueues forgotten executions; do not hide the task's own error
        logger.exception("could not request another drain task")


def _drain(group: CommitGroup, beat: Heartbeat | None) -> bool:
    """Run queued executions back to back in ``group``; True when none was left, False when the
    time ran out first."""
    from executions.runner import Runner

    until = time.monotonic() + settings.KEYFLOW_DRAIN_SECONDS
    while time.monotonic() < until:
        if group.spent():
            group.commit()
        group.open()
        execution = statements.next_queued()
        if execution is None:
            return True
        if beat is not None:
            beat.current = execution.pk
        Runner(_attach(execution), claim=True, group=group).run()
    return False


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
            status=ExecutionStatus.QUEUED
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


def sweep() -> dict[str, list[int]]:
    """The periodic sweeper (a django-q2 schedule): recover lost work."""
    from workflows.dispatch import dispatch_pending

    return {
        "dispatched_events": dispatch_pending(),
        "requeued": requeue_stale(),
        "reenqueued": reenqueue_forgotten(),
    }
