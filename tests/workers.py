"""Starting real ``qcluster`` worker processes against the test database.

Used by tests that must prove the queue path end to end (not django-q2's ``sync`` mode) and
by the scale tests. The workers get the test database's URL; the tests that use them need
``transaction=True`` so what they write is committed and visible to the workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
