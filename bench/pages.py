"""Builder page timings: the canvas of a 50-card workflow and the overview of 1,000 workflows.

    python -m bench.pages [--requests 60] [--workflows 1000] [--cards 50]

Runs against a fresh database (``BENCH_DATABASE_URL``, default a new SQLite file under var/, the
embedded default), through Django's test client in this process: the figures are the server's
time to answer a signed-in Administrator, rendering included, without a network in between.
Not part of ``make bench``'s default run. Target (issue 19): p95 under 150 ms for each page.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent


def _definition(cards: int) -> dict[str, Any]:
    """``cards`` tasks: updates, with an If / else every ten and a loop every ten (each with a task)."""
    tasks: list[dict[str, Any]] = []
    for number in range(cards):
        if number % 10 == 5:
            when = {"left": "{{ input.email }}", "op": "ends_with", "right": "@example.com"}
            inner = {f"in_{number}": {"call": "user.suspend", "with": {"user": "{{ input.email }}"}}}
            cases = [{"branch_1": {"when": when, "do": [inner]}}, {"default": {"do": []}}]
            tasks.append({f"check_{number}": {"switch": cases}})
        elif number % 10 == 8:
            body = [{f"body_{number}": {"call": "user.activate", "with": {"user": "{{ person }}"}}}]
            tasks.append({f"loop_{number}": {"for": {"each": "person", "in": "{{ input.people }}"}, "do": body}})
        else:
            params = {"user": "{{ input.email }}", "job_title": f"Title {number}", "department": "Engineering"}
            tasks.append({f"task_{number}": {"call": "user.update", "with": params}})
    schema = {"type": "object", "properties": {"email": {"type": "string"}, "people": {"type": "array"}}}
    return {"dsl": "1.0", "trigger": {"type": "manual"}, "input": {"schema": schema}, "do": tasks}


def _seed(workflows: int, cards: int) -> tuple[Any, int]:
    """An Administrator, ``workflows`` small workflows of every kind with a run each, and the big one."""
    from django.contrib.auth import get_user_model

    from directory.models import AdminRole
    from directory.roles import ADMINISTRATOR
    from executions.choices import TriggerKind
    from executions.services import execution_start
    from workflows.services import workflow_create

    admin = get_user_model().objects.create_user(username="bench-admin", password="x", is_staff=True)
    admin.groups.set([AdminRole.objects.get(key=ADMINISTRATOR).group])
    role = AdminRole.objects.get(key="manager")
    triggers = [
        {"type": "manual"},
        {
            "type": "event",
            "event": "user.created",
            "when": {"left": "{{ event.user.department }}", "op": "eq", "right": "Sales"},
        },
        {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
    ]
    for number in range(workflows):
        definition = {
            "dsl": "1.0",
            "trigger": triggers[number % 3],
            "do": [{"go": {"call": "user.activate", "with": {"user": f"user{number}"}}}],
        }
        workflow = workflow_create(name=f"Workflow {number:04d}", definition=definition, run_as=role, actor=admin)
        if number % 2 == 0:
            execution_start(workflow=workflow, trigger_kind=TriggerKind.MANUAL)
    big = workflow_create(name="Big workflow", definition=_definition(cards), run_as=role, actor=admin)
    return admin, big.pk


def time_page(client: Any, url: str, requests: int, **headers: str) -> dict[str, float]:
    """p50/p95/max of ``requests`` GETs of ``url`` through the test client, after 5 warm-ups."""
    for _ in range(5):  # warm the template and expression caches
        assert client.get(url, **headers).status_code == 200
    samples = []
    for _ in range(requests):
        start = time.perf_counter()
        response = client.get(url, **headers)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(samples[max(0, int(len(samples) * 0.95) - 1)], 1),
        "max_ms": round(samples[-1], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument("--workflows", type=int, default=1000, help="workflows on the overview")
    parser.add_argument("--cards", type=int, default=50, help="cards on the canvas")
    args = parser.parse_args()

    path = BASE_DIR / "var" / "bench-pages.sqlite3"
    url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{path}")
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(BASE_DIR))

    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.urls import reverse

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    admin, big = _seed(args.workflows, args.cards)
    print(f"seeded {args.workflows} workflows and a {args.cards}-card one in {time.perf_counter() - started:.0f} s")

    client = Client()
    client.force_login(admin)
    pages = {
        f"canvas, {args.cards} cards": (reverse("workflows:canvas", kwargs={"workflow_id": big}), {}),
        f"overview, {args.workflows} workflows": (reverse("workflows:overview"), {}),
        "overview, search (HTMX partial)": (
            reverse("workflows:overview") + "?q=Workflow+09",
            {"HTTP_HX_REQUEST": "true"},
        ),
        "card panel (HTMX partial)": (
            reverse("workflows:panel", kwargs={"workflow_id": big}) + "?path=do[0].task_0",
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
