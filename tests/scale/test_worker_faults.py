"""Fault test: ``kill -9`` of workers in a loop under ``manage.py worker``; every execution still
finishes, exactly once.

Runs on the database and broker the suite runs on: SQLite + the ORM broker by default, PostgreSQL +
Redis when DATABASE_URL / REDIS_URL point there (``.ci/run`` does both). Killing an idle django-q2
worker can hang its whole cluster (the dead worker held the task queue's lock; django-q2 issues
23, 339, 346), so the supervisor has to restart it, and the executions the kills interrupted are
recovered by the sweeper. The workflow writes ``now()`` at each step, so a step applied twice would
leave a second ``user.updated`` event.
"""

from __future__ import annotations

import os
import random
import signal
import time

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Count

from directory import services as ds
from directory.actors import Actor
from directory.models import AdminRole, DirectoryEvent, User
from executions.models import Execution, StepRun
from tests.workers import purge_queue, supervised_worker, wait_until
from workflows.services import workflow_create, workflow_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

USERS = 40
STEPS = 5  # loop iterations, each a user.update; plus the loop's own step record
KILL_PHASE_SECONDS = 25.0
FINISH_SECONDS = 75.0


def _workflow():
    return workflow_create(
        name="mark",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "input": {"schema": {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}}},
            "do": [
                {
                    "each": {
                        "for": {"each": "n", "in": f"{{{{ {list(range(1, STEPS + 1))} }}}}"},
                        "do": [
                            {
                                "mark": {
                                    "call": "user.update",
                                    "with": {"user": "{{ input.user }}", "attributes": {"last": "{{ n }} {{ now() }}"}},
                                }
                            }
                        ],
                    }
                }
            ],
        },
        run_as=AdminRole.objects.get(key="administrator"),
        actor=None,
    )


def test_killing_workers_in_a_loop_loses_and_repeats_nothing(tmp_path, capsys):
    purge_queue()
    workflow = _workflow()
    ds.users_import(
        rows=[{"username": f"f{i}", "email": f"f{i}@faults.example", "state": "active"} for i in range(USERS)],
        actor=Actor.system("fault-test"),
    )
    rng = random.Random(17)
    ids: list[int] = []
    kills = 0
    env = {"KEYFLOW_HEARTBEAT_SECONDS": "1", "KEYFLOW_STALE_AFTER_SECONDS": "5", "KEYFLOW_DRAIN_SECONDS": "2"}
    began = time.monotonic()
    with supervised_worker(tmp_path, workers=2, stall_seconds=5, grace_seconds=2, extra_env=env) as worker:
        assert wait_until(lambda: len(worker.worker_pids()) == 2, 60), worker.log_text()
        until = time.monotonic() + KILL_PHASE_SECONDS
        next_kill = time.monotonic() + 1
        while time.monotonic() < until:
            for _ in range(3):
                user = f"f{len(ids) % USERS}"
                ids.append(workflow_run(workflow=workflow, input={"user": user}, actor=None).pk)
            if time.monotonic() >= next_kill:
                workers = worker.worker_pids()
                if workers:
                    try:
                        os.kill(rng.choice(workers), signal.SIGKILL)
                        kills += 1
                    except ProcessLookupError:
                        pass
                next_kill = time.monotonic() + rng.uniform(0.5, 2.0)
            time.sleep(0.25)
        finished = wait_until(
            lambda: (
                Execution.objects.filter(pk__in=ids, status__in=["succeeded", "failed", "cancelled"]).count()
                == len(ids)
            ),
            FINISH_SECONDS,
            interval=0.5,
        )
        log = worker.log_text()
    elapsed = time.monotonic() - began

    statuses = dict(Execution.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("id")))
    resumed = Execution.objects.filter(pk__in=ids, run_count__gt=1).count()
    steps = dict(StepRun.objects.filter(execution__in=ids).values_list("execution").annotate(n=Count("id")))
    bad_steps = StepRun.objects.filter(execution__in=ids).exclude(status="succeeded").count()
    changes = dict(
        DirectoryEvent.objects.filter(type="user.updated", caused_by_execution_id__in=ids)
        .values_list("caused_by_execution_id")
        .annotate(n=Count("id"))
    )
    broker = "redis" if settings.REDIS_URL else "orm"
    with capsys.disabled():
        print(
            f"\nfaults ({connection.vendor}, {broker} broker): {len(ids)} executions, "
            f"{kills} workers killed, {log.count(' stalled: no progress')} stalled clusters restarted, "
            f"{log.count(' exited with status ')} exited clusters restarted, {resumed} executions resumed, "
            f"{statuses}, {elapsed:.0f} s"
        )
    assert finished, f"not all executions finished: {statuses}\n{log[-5000:]}"
    assert statuses == {"succeeded": len(ids)}
    assert kills >= 10
    # Each execution's steps recorded once each (the loop and its iterations), all succeeded ...
    assert {pk: steps.get(pk, 0) for pk in ids} == {pk: STEPS + 1 for pk in ids}
    assert bad_steps == 0
    # ... and each change made once: a step applied twice would have written a second event.
    assert {pk: changes.get(pk, 0) for pk in ids} == {pk: STEPS for pk in ids}
    assert all(u.attributes["last"].startswith(f"{STEPS} ") for u in User.objects.filter(username__startswith="f"))
