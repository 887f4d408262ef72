"""Starting real ``qcluster`` worker processes against the test database.

Used by tests that must prove the queue path end to end (not django-q2's ``sync`` mode) and
by the scale tests. The workers get the test database's URL; the tests that use them need
``transaction=True`` so what they write is committed and visible to the workers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)


def test_database_url() -> str:
    """A DATABASE_URL for the database the tests run against (the test copy, not the real one)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    if connection.vendor == "postgresql":
        auth = quote(s["USER"] or "")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"])
        return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
    raise RuntimeError(f"no worker support for {connection.vendor}")


def purge_queue() -> None:
    """Drop tasks left in the broker by earlier runs (Redis keeps them between test sessions)."""
    from executions.queue import shared_broker

    shared_broker().purge_queue()


@contextmanager
def qcluster(
    count: int = 1, workers: int = 2, extra_env: dict[str, str] | None = None
) -> Iterator[list[subprocess.Popen]]:
    """Run ``count`` qcluster processes until the block ends."""
    env = {**os.environ, "DATABASE_URL": test_database_url(), "Q_WORKERS": str(workers), **(extra_env or {})}
    procs = [
        subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def process_children() -> dict[int, list[int]]:
    """Every live (not zombie) process's children, from ``ps`` (Linux and macOS alike)."""
    out = subprocess.run(["ps", "-A", "-o", "pid=,ppid=,stat="], capture_output=True, text=True, check=True).stdout
    children: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid, stat = line.split(None, 2)
        if not stat.startswith("Z"):
            children.setdefault(int(ppid), []).append(int(pid))
    return children


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(out) and not out.startswith("Z")


@dataclass
class SupervisedWorker:
    """A running ``manage.py worker`` and what it runs: ``qcluster`` → sentinel → workers, monitor
    and pusher (django-q2 spawns the workers first, then the monitor and the pusher)."""

    proc: subprocess.Popen
    log: Path
    workers: int
    _aux: dict[int, set[int]] = field(default_factory=dict)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def cluster_pid(self) -> int | None:
        """The current ``qcluster`` process (the supervisor's only child)."""
        children = process_children().get(self.proc.pid, [])
        return children[0] if children else None

    def cluster_tree(self) -> tuple[int | None, int | None, list[int]]:
        """(qcluster, sentinel, the sentinel's children), as far as they exist yet."""
        table = process_children()
        cluster = next(iter(table.get(self.proc.pid, [])), None)
        sentinel = next(iter(table.get(cluster, [])), None) if cluster else None
        return cluster, sentinel, sorted(table.get(sentinel, [])) if sentinel else []

    def worker_pids(self) -> list[int]:
        """The cluster's worker processes: the sentinel's children but its monitor and pusher, the
        last two it spawned at start (pids rise). Tests kill only workers, so those two stay."""
        _, sentinel, children = self.cluster_tree()
        if sentinel is None:
            return []
        if sentinel not in self._aux:
            if len(children) < self.workers + 2:
                return []  # still starting
            self._aux[sentinel] = set(children[-2:])
        return [pid for pid in children if pid not in self._aux[sentinel]]


@contextmanager
def supervised_worker(
    tmp_path: Path,
    *,
    workers: int = 2,
    stall_seconds: float = 4.0,
    grace_seconds: float = 2.0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[SupervisedWorker]:
    """Run ``manage.py worker`` (the supervised cluster) against the test database until the block
    ends; its log goes to a file (a pipe nobody reads would fill and block it)."""
    log = tmp_path / "worker.log"
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "Q_WORKERS": str(workers),
        "KEYFLOW_WORKER_STALL_SECONDS": str(stall_seconds),
        "KEYFLOW_WORKER_STOP_GRACE_SECONDS": str(grace_seconds),
        # Its own stamp: another test run in this checkout must not count as this cluster's progress.
        "KEYFLOW_WORKER_PROGRESS_FILE": str(tmp_path / "worker-progress"),
        **(extra_env or {}),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "worker"], cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    worker = SupervisedWorker(proc=proc, log=log, workers=workers)
    try:
        yield worker
    finally:
        cluster = worker.cluster_pid()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=grace_seconds + 30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            if cluster is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(cluster, signal.SIGKILL)
