"""Keyflow's run path over HTTP beside a bare-Django floor (and n8n): ``make bench-http``.

    python -m bench.http [--runs 1] [--backend sqlite|postgres] [--requests 1000] [--concurrency 8]
                         [--paced 60] [--users 1000] [--peer n8n]

Each run starts from a scratch database (SQLite in a temporary folder, the embedded default; or
PostgreSQL + the Redis broker with ``--backend postgres``), migrates it, creates an admin token
and the workflows, then starts gunicorn as ``config/gunicorn.conf.py`` sets it up (on SQLite one process on threads;
on PostgreSQL two processes) and ``manage.py worker``
and offers the same load to Keyflow's run endpoint and to the floor view served by the same
gunicorn (``bench/floor_view.py``). Figures (README.md says what each means):

- finished runs/s at c=8: N requests, 8 in flight; from the first request sent to the last
  execution finished, by the database's ``finished_at``;
- server CPU per execution: user + system time of the server process trees over that span;
- request → finished p50 at 3 requests/s: each execution's ``finished_at`` minus the time its
  request was sent;
- RSS/PSS of the server processes, idle (after a warm-up) and after the load;
- the directory write path: ``POST /api/v1/users/`` with two workflows on ``user.created``,
  executions finished per second.

The floor needs no worker, so its CPU, idle CPU and memory are the web processes' alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
TERMINAL = ("succeeded", "failed", "cancelled")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole run (fresh database and servers)")
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_HTTP_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/keyflow_bench_http"),
        help="with --backend postgres: the scratch database, dropped and created anew each run",
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_HTTP_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="with --backend postgres: the Redis broker (each run queues under a cluster name of its own)",
    )
    parser.add_argument("--requests", type=int, default=1000, help="requests in each closed-loop load")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--paced", type=int, default=60, help="requests in each paced load")
    parser.add_argument("--rate", type=float, default=3.0, help="requests per second of the paced load")
    parser.add_argument("--users", type=int, default=1000, help="users created in the directory write load")
    parser.add_argument("--warmup", type=int, default=40, help="requests per path before anything is measured")
    parser.add_argument(
        "--web-workers",
        type=int,
        help="gunicorn processes (default: config/gunicorn.conf.py's on SQLite, 2 on PostgreSQL)",
    )
    parser.add_argument("--peer", choices=["n8n"], help="also measure a peer (installed by bench/peers/)")
    parser.add_argument("--json", type=Path, default=BASE_DIR / "var" / "bench-http-results.json")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.requests < 1 or args.concurrency < 1 or args.paced < 2 or args.rate <= 0:
        parser.error("--runs, --requests, --concurrency must be positive, --paced at least 2, --rate above 0")
    if args.backend == "postgres" and importlib.util.find_spec("psycopg") is None:
        parser.error("--backend postgres needs PostgreSQL's driver: pip install -e '.[bench,postgres]'")
    return args


def _environment(args: argparse.Namespace, scratch: Path) -> None:
    """Settings for the harness and, inherited, for the servers it starts."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["KEYFLOW_VAR_DIR"] = str(scratch)
    os.environ["DJANGO_DEBUG"] = "0"
    # A fixed key: the scratch database holds no secret worth one, and a generated key prints a banner.
    os.environ["DJANGO_SECRET_KEY"] = "bench-http-scratch-database-not-a-secret-0000000000"
    os.environ["DJANGO_ALLOWED_HOSTS"] = "127.0.0.1,localhost"
    os.environ["KEYFLOW_BENCH_FLOOR"] = "1"
    if args.backend == "postgres":
        os.environ["DATABASE_URL"] = args.database_url
        os.environ["REDIS_URL"] = args.redis_url
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{scratch / 'bench.sqlite3'}"
        os.environ.pop("REDIS_URL", None)


def _fresh_database(args: argparse.Namespace, scratch: Path) -> None:
    from django.db import connections

    connections.close_all()
    if args.backend == "postgres":
        from bench.__main__ import _recreate_postgres_database

        _recreate_postgres_database(args.database_url)
    else:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{scratch / 'bench.sqlite3'}{suffix}").unlink(missing_ok=True)


class Keyflow:
    """The servers of one run and the fixtures they serve."""

    def __init__(self, args: argparse.Namespace, scratch: Path, run: int, stack: ExitStack) -> None:
        from bench import http_fixtures
        from bench.servers import Process, free_port, wait_http

        self.args = args
        self.fixtures = http_fixtures.create()
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "Q_CLUSTER_NAME": f"bench-http-{os.getpid()}-{run}"}
        web_workers = args.web_workers or (2 if args.backend == "postgres" else None)
        self.web = Process(
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config=config/gunicorn.conf.py",
                *([f"--workers={web_workers}"] if web_workers else []),
                f"--bind=127.0.0.1:{port}",
                "--graceful-timeout=10",
            ],
            cwd=BASE_DIR,
            env=env,
            log=scratch / f"gunicorn-{run}.log",
        )
        stack.callback(self.web.stop)
        self.worker = Process(
            "worker", [sys.executable, "manage.py", "worker"], cwd=BASE_DIR, env=env, log=scratch / f"worker-{run}.log"
        )
        stack.callback(self.worker.stop)
        # A cheap API read as the probe: the schema view would leave a generated OpenAPI document in
        # one web process's memory, counted in the idle figure.
        headers = {"Authorization": f"Token {self.fixtures.token}"}
        wait_http(f"{self.base}/api/v1/workflows/{self.fixtures.run_workflow}/", process=self.web, headers=headers)

    # --- requests ---------------------------------------------------------------------------

    def _event(self, tag: str) -> dict[str, Any]:
        return {
            "type": "user.created",
            "user": {"uid": tag, "dn": f"cn={tag},ou=people,dc=example,dc=org", "mail": f"{tag}@example.org"},
        }

    def run_request(self, label: str) -> Callable[[int], tuple[str, Any, dict[str, str]]]:
        url = f"{self.base}/api/v1/workflows/{self.fixtures.run_workflow}/runs/"
        headers = {"Authorization": f"Token {self.fixtures.token}"}
        return lambda i: (url, {"input": self._event(f"{label}-{i}")}, headers)

    def floor_request(self, label: str) -> Callable[[int], tuple[str, Any, dict[str, str]]]:
        url = f"{self.base}/bench/floor/{self.fixtures.floor_workflow}/{self.fixtures.floor_version}/"
        return lambda i: (url, self._event(f"{label}-{i}"), {})

    def user_request(self, label: str) -> Callable[[int], tuple[str, Any, dict[str, str]]]:
        url = f"{self.base}/api/v1/users/"
        headers = {"Authorization": f"Token {self.fixtures.token}"}
        return lambda i: (url, {"username": f"{label}{i}", "email": f"{label}{i}@bench.example"}, headers)

    def roots(self, *, web_only: bool = False) -> list[int]:
        self.web.check()
        if web_only:
            return [self.web.pid]
        self.worker.check()
        return [self.web.pid, self.worker.pid]


# --- waiting on the database -------------------------------------------------------------------


def wait_executions(queryset: Any, expected: int) -> list[tuple[int, float, bool]]:
    """Poll until ``expected`` executions of ``queryset`` are terminal; their finished rows."""
    from bench.phases import poll

    terminal = queryset.filter(status__in=TERMINAL)
    poll(terminal.count, expected, what="executions")
    rows = terminal.values_list("pk", "finished_at", "status")
    return [(pk, finished.timestamp(), status == "succeeded") for pk, finished, status in rows]


def by_id(responses: list[Any]) -> list[tuple[int, float, bool]]:
    """The executions whose ids the responses carry (the 202 of a run, the floor's 201)."""
    from executions.models import Execution

    ids = [r.json()["id"] for r in responses]
    return wait_executions(Execution.objects.filter(pk__in=ids), len(ids))


def started_by_events(fixtures: Any, marker: int) -> Callable[[list[Any]], list[tuple[int, float, bool]]]:
    """The executions the created users' events start: one per listening workflow and user."""
    from executions.models import Execution

    def finished(responses: list[Any]) -> list[tuple[int, float, bool]]:
        queryset = Execution.objects.filter(workflow_id__in=fixtures.event_workflows, pk__gt=marker)
        return wait_executions(queryset, len(responses) * len(fixtures.event_workflows))

    return finished


def request_to_finished_ms(responses: list[Any]) -> list[float]:
    """Each execution's ``finished_at`` minus the time its request was sent."""
    sent = {r.json()["id"]: r.sent_at for r in responses}
    return [(finished - sent[pk]) * 1000 for pk, finished, _ in by_id(responses)]


def paced_parts_ms(responses: list[Any]) -> dict[str, list[float]]:
    """Where each paced run's time went: request sent → execution queued (the web process, up to
    the INSERT), queued → started (waiting for a worker to take it), started → finished (the
    run), and the response's own round trip."""
    from executions.models import Execution

    sent = {r.json()["id"]: r for r in responses}
    rows = Execution.objects.filter(pk__in=sent).values_list("pk", "queued_at", "started_at", "finished_at")
    parts: dict[str, list[float]] = {"request_to_queued": [], "queue_wait": [], "run": [], "response": []}
    for pk, queued, started, finished in rows:
        if started is None or finished is None:
            continue
        parts["request_to_queued"].append((queued.timestamp() - sent[pk].sent_at) * 1000)
        parts["queue_wait"].append((started - queued).total_seconds() * 1000)
        parts["run"].append((finished - started).total_seconds() * 1000)
        parts["response"].append(sent[pk].seconds * 1000)
    return parts


def _last_execution() -> int:
    from executions.models import Execution

    return Execution.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def one_run(args: argparse.Namespace, scratch: Path, run: int) -> dict[str, Any]:
    """One run: fresh database, servers started, every load offered, servers stopped."""
    from django.core.management import call_command
    from django.db import connection, connections

    from bench import measure, phases

    _fresh_database(args, scratch)
    call_command("migrate", verbosity=0)
    results: dict[str, Any] = {
        "database": connection.vendor,
        "broker": "redis" if args.backend == "postgres" else "orm",
        "load_average_start": os.getloadavg()[0],
    }
    n, c = args.requests, args.concurrency
    with ExitStack() as stack:
        kf = Keyflow(args, scratch, run, stack)
        connections.close_all()
        print(f"run {run}: servers up at {kf.base}; warming up")
        everything, web = kf.roots(), kf.roots(web_only=True)

        # Warm-up: every path served a few times, and its executions finished, before any figure.
        warm = {
            **phases.closed("warm_floor", kf.floor_request("wf"), args.warmup, c, web, by_id),
            **phases.closed("warm_run", kf.run_request("wr"), args.warmup, c, everything, by_id),
            **phases.closed(
                "warm_users",
                kf.user_request("w"),
                args.warmup,
                c,
                everything,
                started_by_events(kf.fixtures, _last_execution()),
            ),
        }
        if failed := sum(v for k, v in warm.items() if k.endswith("_failed_requests")):
            raise RuntimeError(f"{failed} warm-up requests failed (logs: {scratch})")
        time.sleep(2)
        results.update(phases.memory("keyflow", everything, "idle"))
        results.update(phases.memory("floor", web, "idle"))
        results.update(phases.idle_cpu_pct("keyflow", everything))
        results.update(phases.idle_cpu_pct("floor", web))

        print(f"run {run}: {n} requests at c={c}: floor, then Keyflow's run endpoint")
        results.update(phases.closed("floor", kf.floor_request("f"), n, c, web, by_id))
        parts = {"web": web, "worker": [kf.worker.pid]}
        results.update(phases.closed("keyflow", kf.run_request("k"), n, c, everything, by_id, parts))

        print(f"run {run}: {args.paced} requests at {args.rate:g}/s: floor, then Keyflow")
        results.update(phases.paced("floor", kf.floor_request("fp"), args.paced, args.rate, request_to_finished_ms))
        paced: list[Any] = []

        def keyflow_latencies(responses: list[Any]) -> list[float]:
            paced.extend(responses)
            return request_to_finished_ms(responses)

        results.update(phases.paced("keyflow", kf.run_request("kp"), args.paced, args.rate, keyflow_latencies))
        for part, values in paced_parts_ms(paced).items():
            results[f"keyflow_paced_{part}_p50_ms"] = measure.percentile(values, 0.5)

        print(f"run {run}: {args.users} users created at c={c} (2 workflows on user.created)")
        events = started_by_events(kf.fixtures, _last_execution())
        results.update(phases.closed("users", kf.user_request("u"), args.users, c, everything, events, parts))
        time.sleep(1)
        results.update(phases.memory("keyflow", everything, "after"))
        results.update(phases.memory("floor", web, "after"))
        connections.close_all()
    results["load_average_end"] = os.getloadavg()[0]
    if args.peer == "n8n":
        from bench.peers import n8n

        print(f"run {run}: n8n {n8n.VERSION}")
        results.update(n8n.measure(args, scratch / f"n8n-{run}"))
    return results


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    scratch = Path(tempfile.mkdtemp(prefix="keyflow-bench-http-"))
    _environment(args, scratch)
    sys.path.insert(0, str(BASE_DIR))

    import django

    django.setup()
    from bench import report

    runs: list[dict[str, Any]] = []
    try:
        for run in range(1, args.runs + 1):
            results = one_run(args, scratch, run)
            runs.append(results)
            print(
                f"\nrun {run} of {args.runs} — {results['database']} + {results['broker']} broker; load average "
                f"{results['load_average_start']:.2f} at the start, {results['load_average_end']:.2f} at the end"
            )
            print(report.table([results], peer=args.peer))
            print()
    except BaseException:
        print(f"\nstopped; the servers' logs are kept in {scratch}", file=sys.stderr)
        raise
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    finally:
        if runs:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(runs, indent=2))
    if len(runs) > 1:
        print(f"all {len(runs)} runs (ranges; ratios taken run by run)")
        print(report.table(runs, peer=args.peer))
    print(f"\n(results also written to {args.json})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
