"""The workers' progress stamp the supervisor watches."""

from __future__ import annotations

import os

import pytest
from django_q.signals import post_execute, post_spawn, pre_execute

from executions import progress


@pytest.fixture
def clock(monkeypatch):
    """This process's clock as ``note_progress`` sees it (a fresh process: nothing noted yet)."""
    now = {"now": 100.0}
    monkeypatch.setattr(progress, "_last_noted", float("-inf"))
    monkeypatch.setattr(progress.time, "monotonic", lambda: now["now"])
    return now


@pytest.fixture
def stamp(tmp_path, settings, clock):
    path = tmp_path / "var" / "worker-progress-test"
    settings.KEYFLOW_WORKER_PROGRESS_FILE = str(path)
    return path


def test_the_first_note_creates_the_stamp(stamp):
    assert progress.last_progress() is None
    progress.note_progress()
    assert stamp.exists()
    assert progress.last_progress() == os.stat(stamp).st_mtime


def test_notes_are_rate_limited_per_process(stamp, clock):
    progress.note_progress()
    os.utime(stamp, (1_000_000, 1_000_000))  # an old stamp, so a touch would show
    clock["now"] += 0.5
    progress.note_progress()
    assert progress.last_progress() == 1_000_000
    clock["now"] += 0.6
    progress.note_progress()
    assert progress.last_progress() > 1_000_000


def test_a_stamp_that_cannot_be_written_does_not_fail_the_caller(tmp_path, settings, clock, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    settings.KEYFLOW_WORKER_PROGRESS_FILE = str(blocker / "stamp")
    progress.note_progress()
    assert progress.last_progress() is None
    assert "worker progress stamp" in caplog.text


@pytest.mark.parametrize(
    "sent",
    [
        lambda: pre_execute.send(sender="django_q", func=print, task={"name": "t"}),
        lambda: post_execute.send(sender="django_q", task={"name": "t"}),
    ],
    ids=["task started", "result saved"],
)
def test_django_q_signals_count_as_progress(stamp, sent):
    sent()
    assert progress.last_progress() is not None


def test_a_worker_spawned_is_no_progress(stamp):
    """The sentinel replacing workers that keep dying must not hide a cluster that runs nothing."""
    post_spawn.send(sender="django_q", proc_name="Process-1")
    assert progress.last_progress() is None


def test_the_default_stamp_is_named_for_the_cluster():
    from config.settings import base, keyflow, qcluster

    if "KEYFLOW_WORKER_PROGRESS_FILE" in os.environ:
        pytest.skip("set in the environment")
    configured = keyflow.KEYFLOW_WORKER_PROGRESS_FILE
    assert configured == str(base.VAR_DIR / f"worker-progress-{qcluster.Q_CLUSTER['name']}")
