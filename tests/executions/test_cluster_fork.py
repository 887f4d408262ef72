"""The cluster forked from the supervisor (``ClusterProcess``) and the pre-fork preparation it and
gunicorn share (``config.forking``)."""

from __future__ import annotations

import gc
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config import forking
from executions import supervisor
from executions.supervisor import CLUSTER_MODULES, ClusterProcess


@pytest.fixture
def unfrozen():
    """Each test here freezes this process's objects; give them back to the collector after."""
    yield
    gc.unfreeze()


def _wait_exited(child: ClusterProcess, timeout: float = 10.0) -> int | None:
    deadline = time.monotonic() + timeout
    while (status := child.exited()) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return status


@pytest.mark.django_db(transaction=True)
def test_prepare_to_fork_imports_closes_connections_and_freezes(unfrozen):
    sys.modules.pop("tests.executions.fork_probe", None)
    connection.ensure_connection()
    before = gc.get_freeze_count()

    forking.prepare_to_fork("tests.executions.fork_probe")

    assert "tests.executions.fork_probe" in sys.modules
    assert connection.connection is None  # a child must open its own
    assert gc.get_freeze_count() > before


def test_the_cluster_runs_qcluster_in_a_forked_child_of_its_own_session(unfrozen, monkeypatch, tmp_path):
    marker = tmp_path / "ran"

    def fake_qcluster(name: str) -> None:
        # Runs in the child: what it sees, written where the parent can read it.
        marker.write_text(f"{name} {os.getppid()} {os.getsid(0)} {os.getpid()} {gc.get_freeze_count() > 0}")

    monkeypatch.setattr(supervisor, "call_command", fake_qcluster)
    child = ClusterProcess.start()

    assert _wait_exited(child) == 0
    assert child.reap() == 0
    name, parent, session, pid, frozen = marker.read_text().split()
    assert (name, int(parent), int(session), int(pid)) == ("qcluster", os.getpid(), child.pid, child.pid)
    assert frozen == "True"  # what the supervisor loaded is shared, not copied by the child's collector
    for module in (settings.ROOT_URLCONF, *CLUSTER_MODULES):
        assert module in sys.modules


def test_a_cluster_that_fails_exits_with_status_1(unfrozen, monkeypatch):
    def failing(name: str) -> None:
        raise RuntimeError("Q Cluster failed to start")

    monkeypatch.setattr(supervisor, "call_command", failing)
    child = ClusterProcess.start()

    assert _wait_exited(child) == 1
    assert child.reap() == 1


def test_the_cluster_does_not_inherit_the_supervisors_signal_handlers(unfrozen, monkeypatch):
    """SIGTERM ends it as it would a fresh program (django-q2 installs its own handlers)."""
    monkeypatch.setattr(supervisor, "call_command", lambda name: time.sleep(30))
    previous = signal.signal(signal.SIGTERM, lambda *a: None)
    try:
        child = ClusterProcess.start()
    finally:
        signal.signal(signal.SIGTERM, previous)
    try:
        time.sleep(0.2)
        assert child.exited() is None
        child.terminate()
        assert _wait_exited(child) == -signal.SIGTERM
    finally:
        child.kill_group()
        child.reap()


def _gunicorn_conf() -> dict:
    return runpy.run_path(str(Path(settings.BASE_DIR) / "config" / "gunicorn.conf.py"))


@pytest.mark.parametrize("url", [None, "sqlite:////var/lib/keyflow/keyflow.sqlite3"])
def test_gunicorn_serves_the_embedded_default_from_one_process_on_threads(monkeypatch, url):
    """SQLite takes one writer at a time: one web process on threads, which loads Keyflow itself
    (a preloaded master would only hold a second copy of it)."""
    monkeypatch.delenv("WEB_THREADS", raising=False)
    if url is None:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("DATABASE_URL", url)
    prepared = []
    monkeypatch.setattr(forking, "prepare_to_fork", lambda *modules: prepared.append(modules))

    conf = _gunicorn_conf()
    conf["when_ready"](server=None)
    conf["post_worker_init"](worker=None)

    assert conf["wsgi_app"] == "config.wsgi:application"
    assert conf["threads"] == 8
    assert "workers" not in conf  # gunicorn's own default (1, or WEB_CONCURRENCY) stands
    assert conf["preload_app"] is False
    assert prepared == []
    assert settings.ROOT_URLCONF in sys.modules


def test_gunicorn_threads_follow_web_threads(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "sqlite:///keyflow.sqlite3")
    monkeypatch.setenv("WEB_THREADS", "8")

    assert _gunicorn_conf()["threads"] == 8


def test_gunicorn_on_postgresql_preloads_keyflow_and_prepares_the_fork(monkeypatch):
    """Processes on PostgreSQL, as many as the operator asks for, sharing one loaded Keyflow."""
    monkeypatch.setenv("DATABASE_URL", "postgres://keyflow@db/keyflow")
    prepared = []
    monkeypatch.setattr(forking, "prepare_to_fork", lambda *modules: prepared.append(modules))

    conf = _gunicorn_conf()
    conf["when_ready"](server=None)
    conf["post_worker_init"](worker=None)

    assert conf["preload_app"] is True
    assert "threads" not in conf and "workers" not in conf
    assert prepared == [(settings.ROOT_URLCONF,)]


def test_the_web_processes_do_not_load_the_http_client():
    """gunicorn's master preloads the URL configuration, which lists and validates actions; the HTTP
    client is only for the worker's processes, which send."""
    code = (
        "import sys, django; django.setup(); from django.conf import settings; "
        "from importlib import import_module; import_module(settings.ROOT_URLCONF); "
        "from workflows.actions.registry import all_actions; all_actions(); print('httpx' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=settings.BASE_DIR)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
