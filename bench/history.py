"""History page timings over a large history: ~100,000 executions and ~1,000,000 step records.

    BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/kf_bench_history \\
        python -m bench.history [--executions 100000] [--steps-per-execution 10] [--requests 60]

The database is recreated empty, migrated, and filled through the ORM's ``bulk_create`` (public
APIs, batches of 10,000 rows); then each page is requested through Django's test client in this
process as a signed-in Administrator — the server's time to answer, rendering included, without a
network in between. Pages: the history's first page, a filtered page (one workflow's failures), a
deep page (the 1,000th: 50,000 rows in), and an execution page with 200 steps. Target (issue 20):
p95 ≤ 100 ms each. Without ``BENCH_DATABASE_URL`` it runs on a fresh SQLite file under var/.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.pages import time_page

BASE_DIR = Path(__file__).resolve().parent.parent
BATCH = 10_000
DEEP_OFFSET = 50_000  # page 1,001 at 50 rows a page


def _step_rows(execution: Any, count: int, rng: random.Random) -> list[Any]:
    """``count`` step records like a run of an update-heavy workflow writes (small rendered params)."""
    from executions.models import StepRun

    rows = []
    started = execution.started_at
    for sequence in range(1, count + 1):
        failed = execution.status == "failed" and sequence == count
        status = "failed" if failed else ("skipped" if sequence % 7 == 0 else "succeeded")
        finished = started + timedelta(milliseconds=rng.randint(2, 40))
        rows.append(
            StepRun(
                execution_id=execution.pk,
                sequence=sequence,
                key=f"do[{sequence - 1}].task_{sequence}",
                path=f"do[{sequence - 1}].task_{sequence}",
                name=f"task_{sequence}",
                task_type="call",
                action="user.update",
                status=status,
                skip_reason="guard_false" if status == "skipped" else "",
                input={"user": f"user{execution.pk % 5000}@example.com", "job_title": f"Title {sequence}"},
                output=None if status != "succeeded" else {"id": execution.pk % 5000, "job_title": f"Title {sequence}"},
                error="user not found" if failed else "",
                attempts=0 if status == "skipped" else 1,
                started_at=started,
                finished_at=finished,
            )
        )
        started = finished
    return rows


def _big_definition() -> dict[str, Any]:
    """39 updates and a loop with 4 tasks over 40 people: 200 step records when it runs."""
    tasks: list[dict[str, Any]] = [
        {f"task_{n}": {"call": "user.update", "with": {"user": "{{ input.email }}", "job_title": f"T{n}"}}}
        for n in range(39)
    ]
    body = [{f"body_{n}": {"call": "user.activate", "with": {"user": "{{ person }}"}}} for n in range(4)]
    tasks.append({"each_person": {"for": {"each": "person", "in": "{{ input.people }}"}, "do": body}})
    schema = {"type": "object", "properties": {"email": {"type": "string"}, "people": {"type": "array"}}}
    return {"dsl": "1.0", "trigger": {"type": "manual"}, "input": {"schema": schema}, "do": tasks}


def _big_execution(workflow: Any, admin: Any) -> int:
    """An execution of the big workflow with its 200 step records."""
    from django.utils import timezone

    from executions.models import Execution, StepRun

    now = timezone.now()
    execution = Execution.objects.create(
        workflow=workflow,
        version=workflow.current_version,
        trigger_kind="manual",
        status="succeeded",
        started_by=admin,
        input={"email": "ann@example.com", "people": [f"p{n}" for n in range(40)]},
        started_at=now,
        finished_at=now + timedelta(seconds=3),
    )
    steps, sequence = [], 0

    def add(path: str, key: str, name: str, task_type: str, loop_index: int | None, output: Any) -> None:
        nonlocal sequence
        sequence += 1
        steps.append(
            StepRun(
                execution=execution,
                sequence=sequence,
                key=key,
                path=path,
                name=name,
                task_type=task_type,
                action="user.update" if task_type == "call" else "",
                status="succeeded",
                input={"user": "ann@example.com"} if task_type == "call" else None,
                output=output,
                attempts=1 if task_type == "call" else 0,
                loop_index=loop_index,
                started_at=now,
                finished_at=now,
            )
        )

    for n in range(39):
        add(f"do[{n}].task_{n}", f"do[{n}].task_{n}", f"task_{n}", "call", None, {"id": 1, "job_title": f"T{n}"})
    loop = "do[39].each_person"
    add(loop, loop, "each_person", "for", None, {"count": 40, "items": [f"p{n}" for n in range(40)]})
    for index in range(40):
        for n in range(4):
            path, key = f"{loop}.do[{n}].body_{n}", f"{loop}[{index}].do[{n}].body_{n}"
            add(path, key, f"body_{n}", "call", index, {"id": index, "state": "active"})
    StepRun.objects.bulk_create(steps)
    return execution.pk


def _seed(executions: int, per_execution: int) -> dict[str, Any]:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import F
    from django.utils import timezone

    from directory.models import AdminRole
    from directory.roles import ADMINISTRATOR
    from executions.models import Execution, StepRun
    from workflows.services import workflow_create

    rng = random.Random(20)
    admin = get_user_model().objects.create_user(username="bench-admin", password="x", is_staff=True)
    admin.groups.set([AdminRole.objects.get(key=ADMINISTRATOR).group])
    role = AdminRole.objects.get(key="manager")
    workflows = [
        workflow_create(
            name=f"Workflow {n:02d}",
            definition={
                "dsl": "1.0",
                "trigger": {"type": "manual"},
                "do": [{f"task_{s}": {"call": "user.activate", "with": {"user": "ann"}}} for s in range(1, 11)],
            },
            run_as=role,
            actor=admin,
        )
        for n in range(20)
    ]
    big = workflow_create(name="Big workflow", definition=_big_definition(), run_as=role, actor=admin)
    statuses = ["succeeded"] * 90 + ["failed"] * 7 + ["cancelled"] * 2 + ["waiting"]
    kinds = ["manual", "api", "schedule", "event"]
    now = timezone.now()
    span = timedelta(days=80).total_seconds()
    made = steps = 0
    while made < executions:
        count = min(BATCH // per_execution, executions - made)
        rows = []
        for _ in range(count):
            workflow = workflows[rng.randrange(len(workflows))]
            status = rng.choice(statuses)
            started = now - timedelta(seconds=rng.random() * span)
            rows.append(
                Execution(
                    workflow=workflow,
                    version=workflow.current_version,
                    trigger_kind=kinds[rng.randrange(4)],
                    status=status,
                    started_by=admin,
                    input={"email": "ann@example.com"},
                    error="Step do[9].task_10 failed: user not found" if status == "failed" else "",
                    started_at=started,
                    finished_at=None if status == "waiting" else started + timedelta(seconds=rng.random() * 2),
                )
            )
        created = Execution.objects.bulk_create(rows)
        # ``queued_at`` is auto_now_add: set after the insert, spread over the 80 days like the start.
        ids = [execution.pk for execution in created]
        Execution.objects.filter(pk__in=ids).update(queued_at=F("started_at") - timedelta(milliseconds=50))
        step_rows = [step for execution in created for step in _step_rows(execution, per_execution, rng)]
        StepRun.objects.bulk_create(step_rows, batch_size=BATCH)
        made += count
        steps += len(step_rows)
        print(f"  {made:,} executions, {steps:,} steps", end="\r", flush=True)
    print()
    big_execution = _big_execution(big, admin)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # fresh statistics, as autovacuum would give a loaded table
    return {"admin": admin, "workflow": workflows[3].pk, "big_execution": big_execution, "steps": steps}


def _seeded() -> dict[str, Any]:
    """What ``_seed`` returned, read back from the data of an earlier run (``--reuse``)."""
    from django.contrib.auth import get_user_model

    from executions.models import Execution
    from workflows.models import Workflow

    return {
        "admin": get_user_model().objects.get(username="bench-admin"),
        "workflow": Workflow.objects.get(name="Workflow 03").pk,
        "big_execution": Execution.objects.get(workflow__name="Big workflow").pk,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=100_000, help="executions in the history")
    parser.add_argument("--steps-per-execution", type=int, default=10, help="step records per execution")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--reuse", action="store_true", help="time the pages on the data of the last run")
    args = parser.parse_args()

    path = BASE_DIR / "var" / "bench-history.sqlite3"
    url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{path}")
    if args.reuse:
        pass
    elif url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif url.startswith(("postgres", "postgresql")):
        from bench.__main__ import _recreate_postgres_database

        _recreate_postgres_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import reverse

    from executions.models import Execution, StepRun
    from executions.selectors import cursor_for

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    if args.reuse:
        seeded = _seeded()
    else:
        seeded = _seed(args.executions, args.steps_per_execution)
        print(f"seeded on {connection.vendor} in {time.perf_counter() - started:.0f} s")
    print(f"{Execution.objects.count():,} executions, {StepRun.objects.count():,} step records")
    offset = min(DEEP_OFFSET, Execution.objects.count() // 2)
    deep = Execution.objects.order_by("-queued_at", "-id")[offset - 1 : offset].get()
    history = reverse("executions:history")
    client = Client()
    client.force_login(seeded["admin"])
    pages = {
        "history, first page": (history, {}),
        "history, filtered (workflow + failed)": (f"{history}?workflow={seeded['workflow']}&status=failed", {}),
        "history, filtered (HTMX partial)": (
            f"{history}?status=cancelled&trigger=api",
            {"HTTP_HX_REQUEST": "true"},
        ),
        f"history, deep page ({offset:,} rows in)": (f"{history}?after={cursor_for(deep)}", {}),
        "execution page, 200 steps": (reverse("executions:detail", args=[seeded["big_execution"]]), {}),
        "step panel, loop of 40 (HTMX)": (
            reverse("executions:step", args=[seeded["big_execution"]]) + "?path=do[39].each_person",
            {"HTTP_HX_REQUEST": "true"},
        ),
    }
    print(f"\n{'page':40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for name, (page_url, headers) in pages.items():
        figures = time_page(client, page_url, args.requests, **headers)
        print(f"{name:40} {figures['p50_ms']:>8} {figures['p95_ms']:>8} {figures['max_ms']:>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
