"""``manage.py worker`` end to end: a real supervisor restarting a real, stuck or dead, qcluster."""

from __future__ import annotations

import os
import signal
import time

import pytest
from django.db import transaction

from directory import services as ds
from directory.models import AdminRole, User
from executions.models import Execution
from tests.workers import alive, purge_queue, supervised_worker, wait_until
from workflows.services import workflow_create, workflow_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _retitle(administrator):
    ds.user_create(actor=administrator, username="ann", email="ann@example.com", state="active")
    return workflow_create(
        name="retitle",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "input": {"schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}},
            "do": [{"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "{{ input.title }}"}}}],
        },
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )


def _all_succeeded(ids: list[int]) -> bool:
    return Execution.objects.filter(pk__in=ids, status="succeeded").count() == len(ids)


def test_a_stuck_cluster_is_restarted_and_its_queued_executions_finish(administrator, tmp_path):
    purge_queue()
    workflow = _retitle(administrator)
    with supervised_worker(tmp_path, workers=2, stall_seconds=4, grace_seconds=2) as worker:
        first = workflow_run(workflow=workflow, input={"title": "One"}, actor=administrator)
        assert wait_until(lambda: _all_succeeded([first.pk]), 60), worker.log_text()
        assert wait_until(lambda: len(worker.worker_pids()) == 2, 30), worker.log_text()

        # Freeze the sentinel and everything under it: alive to any outside check, doing nothing —
        # what django-q2's hang looks like (its workers block on the task queue, in no transaction).
        # Frozen while this test holds SQLite's write lock, so none is caught inside a write
        # transaction (a scheduler tick, a heartbeat) and holds the lock for ever.
        cluster, sentinel, children = worker.cluster_tree()
        frozen = [sentinel, *children]
        with transaction.atomic():
            Execution.objects.filter(pk=first.pk).update(error="")  # takes the write lock on SQLite
            for pid in frozen:
                os.kill(pid, signal.SIGSTOP)
        queued = [workflow_run(workflow=workflow, input={"title": f"T{i}"}, actor=administrator).pk for i in range(3)]

        assert wait_until(lambda: _all_succeeded(queued), 90, interval=0.5), worker.log_text()
        log = worker.log_text()
        assert f"cluster {cluster} stalled" in log
        assert worker.cluster_pid() not in (None, cluster)
        assert wait_until(lambda: not any(alive(pid) for pid in [cluster, *frozen]), 10), "the stuck cluster lives on"
        assert User.objects.get(username="ann").job_title.startswith("T")

        # A cluster that dies is restarted, and what it left behind is killed.
        assert wait_until(lambda: len(worker.worker_pids()) == 2, 30), worker.log_text()
        cluster, sentinel, children = worker.cluster_tree()
        os.kill(cluster, signal.SIGKILL)
        assert wait_until(lambda: worker.cluster_pid() not in (None, cluster), 30), worker.log_text()
        orphans = [sentinel, *children]
        assert wait_until(lambda: not any(alive(pid) for pid in orphans), 10), "the dead cluster's processes live on"
        last = workflow_run(workflow=workflow, input={"title": "Last"}, actor=administrator)
        assert wait_until(lambda: _all_succeeded([last.pk]), 60), worker.log_text()
        assert User.objects.get(username="ann").job_title == "Last"

        # SIGHUP (a closed terminal) stops the supervisor and its whole cluster.
        cluster, sentinel, children = worker.cluster_tree()
        started = time.monotonic()
        worker.proc.send_signal(signal.SIGHUP)
        assert worker.proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 2 + 10
        assert not any(alive(pid) for pid in [cluster, sentinel, *children])
