"""Benchmark scenarios. Each returns a dict of figures; ``print_table`` renders them.

- floor: the machine's raw ORM rate for writing 1 Execution + 3 StepRuns per transaction —
  the ceiling a runner writing the same rows could approach. Measured right before and right
  after each manual burst and averaged: this VM's CPU speed drifts by up to 2x within seconds,
  so a floor read at another moment than the burst says more about the drift than the engine.
- manual: N manual executions of a 3-step ``user.update`` workflow, enqueued as fast as the
  API path allows, run by the cluster — several such bursts, each bracketed by floor readings,
  the median burst reported with the range of its share of the floor; before them a backlog of
  N/2 queued while no worker runs, drained by the cluster (also bracketed: the workers' rate
  without an enqueuer taking turns at the write lock); then a paced run for latency (queued →
  finished).
- event: a ``user.created`` workflow; latency from the committed event to the execution
  finished, and events/s sustained through a bulk import.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from directory import services as ds
from directory.actors import Actor
from directory.models import AdminRole, DirectoryEvent
from executions.models import Execution, StepRun
from workflows.services import workflow_create, workflow_run

ACTOR = Actor.system("bench")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@contextmanager
def cluster(workers: int):
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "Q_WORKERS": str(workers)},
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _wait_finished(ids: list[int], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        done = set(
            Execution.objects.filter(pk__in=pending, status__in=["succeeded", "failed", "cancelled"]).values_list(
                "pk", flat=True
            )
        )
        pending -= done
        if pending:
            time.sleep(0.2)
    if pending:
        raise RuntimeError(f"{len(pending)} executions did not finish within {timeout}s")


def _role() -> AdminRole:
    return AdminRole.objects.get(key="administrator")


def _floor_workflow() -> Any:
    return workflow_create(
        name="floor",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [{"noop": {"switch": [{"default": {"do": []}}]}}],
        },
        run_as=_role(),
        actor=ACTOR,
    )


def floor(workflow: Any, n: int = 1000) -> float:
    """Raw ORM: 1 Execution + 3 StepRuns per transaction; executions/s. The rows are deleted after."""
    now = timezone.now()
    started = time.perf_counter()
    for _ in range(n):
        with transaction.atomic():
            execution = Execution.objects.create(
                workflow=workflow, version_id=workflow.current_version_id, trigger_kind="manual", status="succeeded"
            )
            for seq in range(1, 4):
                StepRun.objects.create(
                    execution=execution,
                    sequence=seq,
                    key=f"do[{seq}].s",
                    path=f"do[{seq}].s",
                    name="s",
                    task_type="call",
                    status="succeeded",
                    input={"user": 1},
                    output={"ok": True},
                    started_at=now,
                    finished_at=now,
                )
    elapsed = time.perf_counter() - started
    Execution.objects.filter(workflow=workflow).delete()
    return n / elapsed


def _manual_workflow() -> Any:
    return workflow_create(
        name="bench manual",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "input": {"schema": {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}}},
            "do": [
                {"title": {"call": "user.update", "with": {"user": "{{ input.user }}", "job_title": "Engineer"}}},
                {"dept": {"call": "user.update", "with": {"user": "{{ input.user }}", "department": "Engineering"}}},
                {"where": {"call": "user.update", "with": {"user": "{{ input.user }}", "location": "Berlin"}}},
            ],
        },
        run_as=_role(),
        actor=ACTOR,
    )


def _burst(workflow: Any, users: list[str], floor_workflow: Any) -> dict[str, Any]:
    """One burst: every run queued as fast as the run path allows while the cluster runs them,
    bracketed by a floor reading right before and right after."""
    floor_before = floor(floor_workflow)
    started_at = timezone.now()
    started = time.perf_counter()
    ids = [workflow_run(workflow=workflow, input={"user": user}, actor=None).pk for user in users]
    enqueue_s = time.perf_counter() - started
    _wait_finished(ids, 600)
    floor_after = floor(floor_workflow)
    rows = list(Execution.objects.filter(pk__in=ids).values_list("queued_at", "finished_at", "status"))
    # From the first run queued to the last one finished, by the workers' own clock stamps: the
    # polling above only notices the end up to 0.2 s late.
    wall = (max(f for _, f, _ in rows) - started_at).total_seconds()
    floor_mean, rate = (floor_before + floor_after) / 2, len(ids) / wall
    return {
        "floor": floor_mean,
        "floor_spread": abs(floor_before - floor_after) / floor_mean,
        "rate": rate,
        "share": rate / floor_mean,
        "enqueue": len(ids) / enqueue_s,
        "failed": sum(1 for *_, status in rows if status != "succeeded"),
        "latencies": [(f - q).total_seconds() * 1000 for q, f, _ in rows],
    }


def _span(ids: list[int]) -> tuple[float, int]:
    """Seconds from the first start to the last finish of these executions, and how many failed."""
    spans = list(Execution.objects.filter(pk__in=ids).values_list("started_at", "finished_at", "status"))
    seconds = (max(f for _, f, _ in spans) - min(s for s, _, _ in spans)).total_seconds()
    return seconds, sum(1 for *_, status in spans if status != "succeeded")


def _drain_backlog(workflow: Any, prefix: str, n: int, *, clusters: int, workers: int) -> list[int]:
    """Queue ``n`` runs with no worker up, then let ``clusters`` clusters drain them; their ids."""
    ids = [workflow_run(workflow=workflow, input={"user": f"{prefix}{i}"}, actor=None).pk for i in range(n)]
    with ExitStack() as stack:
        for _ in range(clusters):
            stack.enter_context(cluster(workers))
        _wait_finished(ids, 600)
    return ids


def manual(n: int, latency_runs: int, workers: int, bursts: int = 3) -> dict[str, Any]:
    burst_users = [[f"m{b}_{i}" for i in range(n)] for b in range(bursts)]
    ds.users_import(
        rows=[{"username": u, "email": f"{u}@bench.example"} for users in burst_users for u in users]
        + [{"username": f"p{i}", "email": f"p{i}@bench.example"} for i in range(latency_runs)]
        + [
            {"username": f"{prefix}{i}", "email": f"{prefix}{i}@bench.example"}
            for prefix in "de"
            for i in range(n // 2)
        ],
        actor=ACTOR,
    )
    workflow = _manual_workflow()
    floor_workflow = _floor_workflow()
    # Drain: a backlog queued while no worker runs, then the cluster starts — the workers' own rate,
    # with no enqueuer taking turns at the write lock; bracketed by floor readings like a burst.
    # The same backlog again for two clusters side by side (each with ``workers`` workers): nothing
    # should serialize them, so together they drain at least as fast as one.
    two_ids = _drain_backlog(workflow, "e", n // 2, clusters=2, workers=workers)
    two_s, two_failed = _span(two_ids)
    drain_ids = [workflow_run(workflow=workflow, input={"user": f"d{i}"}, actor=None).pk for i in range(n // 2)]
    drain_floor_before = floor(floor_workflow)
    with cluster(workers):
        _wait_finished(drain_ids, 600)
        # (Read with the cluster up and idle, as after a burst; the reading before had none running.)
        drain_floor_after = floor(floor_workflow)
        drain_floor = (drain_floor_before + drain_floor_after) / 2
        drain_s, drain_failed = _span(drain_ids)

        warm = workflow_run(workflow=workflow, input={"user": "p0"}, actor=None)
        _wait_finished([warm.pk], 60)
        Execution.objects.filter(pk=warm.pk).delete()

        # Several bursts (each on users of its own: a second update to the same values changes
        # nothing and would cost less), the median reported: one reading is at the VM's mercy.
        runs = [_burst(workflow, users, floor_workflow) for users in burst_users]

        paced_ids = []
        for i in range(latency_runs):
            paced_ids.append(workflow_run(workflow=workflow, input={"user": f"p{i}"}, actor=None).pk)
            time.sleep(0.05)
        _wait_finished(paced_ids, 120)
        paced_rows = list(
            Execution.objects.filter(pk__in=paced_ids).values_list("queued_at", "started_at", "finished_at")
        )
        paced = [(f - q).total_seconds() * 1000 for q, _s, f in paced_rows]
        paced_wait = [(s - q).total_seconds() * 1000 for q, s, _f in paced_rows]
    shares = sorted(run["share"] for run in runs)
    latencies = [ms for run in runs for ms in run["latencies"]]
    return {
        "floor_executions_per_s": _pct([run["floor"] for run in runs], 0.5),
        "floor_before_after_spread_max": max(run["floor_spread"] for run in runs),
        "manual_executions": n,
        "manual_bursts": bursts,
        "manual_failed": sum(run["failed"] for run in runs),
        "manual_enqueue_per_s": _pct([run["enqueue"] for run in runs], 0.5),
        "manual_executions_per_s": _pct([run["rate"] for run in runs], 0.5),
        "manual_share_of_floor": _pct(shares, 0.5),
        "manual_share_of_floor_min": shares[0],
        "manual_share_of_floor_max": shares[-1],
        "manual_drain_executions_per_s": len(drain_ids) / drain_s,
        "manual_drain_share_of_floor": len(drain_ids) / drain_s / drain_floor,
        "manual_drain_floor_spread": abs(drain_floor_before - drain_floor_after) / drain_floor,
        "manual_drain_failed": drain_failed,
        "manual_drain_two_clusters_executions_per_s": len(two_ids) / two_s,
        "manual_drain_two_clusters_vs_one": (len(two_ids) / two_s) / (len(drain_ids) / drain_s),
        "manual_drain_two_clusters_failed": two_failed,
        "manual_burst_p50_ms": _pct(latencies, 0.5),
        "manual_burst_p95_ms": _pct(latencies, 0.95),
        "manual_paced_p50_ms": _pct(paced, 0.5),
        "manual_paced_p95_ms": _pct(paced, 0.95),
        "manual_paced_queue_wait_p50_ms": _pct(paced_wait, 0.5),
    }


def event(n_users: int, workers: int) -> dict[str, Any]:
    workflow = workflow_create(
        name="bench onboarding",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "event", "event": "user.created"},
            "do": [
                {
                    "tag": {
                        "call": "user.update",
                        "with": {"user": "{{ event.user.id }}", "attributes": {"onboarded": True}},
                    }
                }
            ],
        },
        run_as=_role(),
        actor=ACTOR,
    )
    with cluster(workers):
        time.sleep(2)
        # Latency: single users created one at a time (each its own committed transaction).
        for i in range(100):
            ds.user_create(actor=ACTOR, username=f"e{i}", email=f"e{i}@bench.example")
            time.sleep(0.05)
        single_ids = list(Execution.objects.filter(workflow=workflow).values_list("pk", flat=True))
        _wait_finished(single_ids, 120)
        single = [
            (f - o).total_seconds() * 1000
            for o, f in Execution.objects.filter(pk__in=single_ids).values_list("event__occurred_at", "finished_at")
        ]
        # Throughput: one bulk import.
        started = time.perf_counter()
        ds.users_import(
            rows=[{"username": f"b{i}", "email": f"b{i}@bench.example"} for i in range(n_users)], actor=ACTOR
        )
        import_s = time.perf_counter() - started
        deadline = time.monotonic() + 900
        expected = len(single_ids) + n_users
        while time.monotonic() < deadline:
            done = Execution.objects.filter(workflow=workflow, status__in=["succeeded", "failed"]).count()
            if done >= expected:
                break
            time.sleep(0.25)
        wall = time.perf_counter() - started
        total = Execution.objects.filter(workflow=workflow).count()
        failed = Execution.objects.filter(workflow=workflow).exclude(status="succeeded").count()
        undispatched = DirectoryEvent.objects.filter(type="user.created", dispatched_at__isnull=True).count()
    return {
        "event_single_p50_ms": _pct(single, 0.5),
        "event_single_p95_ms": _pct(single, 0.95),
        "event_import_users": n_users,
        "event_import_s": import_s,
        "event_import_events_per_s": n_users / wall,
        "event_executions_total": total,
        "event_executions_failed": failed,
        "event_undispatched": undispatched,
    }


def run_all(args: Any) -> dict[str, Any]:
    call_command("migrate", verbosity=0)
    results: dict[str, Any] = {
        "database": connection.vendor,
        "broker": "redis" if settings.REDIS_URL else "orm",
        "workers": args.workers,
    }
    if args.only in (None, "manual"):
        results.update(manual(args.executions, args.latency_runs, args.workers, args.bursts))
    if args.only in (None, "event"):
        results.update(event(args.events, args.workers))
    return results


def print_table(results: dict[str, Any]) -> None:
    print(f"\nKeyflow benchmark — {results['database']} + {results['broker']} broker, {results['workers']} workers")
    print("-" * 72)
    for key, value in results.items():
        if key in {"database", "broker", "workers"}:
            continue
        text = f"{value:,.1f}" if isinstance(value, float) else str(value)
        if "share_of_floor" in key or key in {
            "floor_before_after_spread_max",
            "manual_drain_floor_spread",
            "manual_drain_two_clusters_vs_one",
        }:
            text = f"{value:.0%}"
        print(f"{key:<40} {text:>30}")


__all__ = ["print_table", "run_all"]
