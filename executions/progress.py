"""The workers' progress stamp, which the worker supervisor (``executions.supervisor``) watches.

A hung django-q2 cluster looks alive from outside (every process exists, none exits), so the
supervisor judges it by whether work moves: workers touch one file per cluster when a task
starts or finishes, and the runner after its steps. Touching is an ``os.utime`` at most once a
second per process, so it can be called as often as is convenient. The file's modification
time is the stamp; the supervisor only compares it with the last value it saw, so a clock that
jumps does not fake a stall.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from django.conf import settings

logger = logging.getLogger("keyflow.worker")

# At most one stamp per process per this many seconds: the supervisor's stall window is far longer.
MIN_INTERVAL = 1.0

_last_noted = float("-inf")


def progress_path() -> Path:
    """The stamp file of this cluster (``KEYFLOW_WORKER_PROGRESS_FILE``)."""
    return Path(settings.KEYFLOW_WORKER_PROGRESS_FILE)


def note_progress() -> None:
    """Record that work moved in this process; cheap, rate-limited, never raises."""
    global _last_noted
    now = time.monotonic()
    if now - _last_noted < MIN_INTERVAL:
        return
    _last_noted = now
    path = progress_path()
    try:
        os.utime(path)
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:
            logger.warning("could not create the worker progress stamp %s", path, exc_info=True)
    except OSError:
        # A stamp that cannot be written costs at most a needless restart, never a task.
        logger.warning("could not touch the worker progress stamp %s", path, exc_info=True)


def last_progress() -> float | None:
    """When work last moved (the stamp's modification time, seconds since the epoch), or None if no
    worker wrote one yet."""
    try:
        return os.stat(progress_path()).st_mtime
    except OSError:
        return None


def on_task_signal(sender: Any, **kwargs: Any) -> None:
    """django-q2 ``pre_execute`` / ``post_execute`` receiver: a task starting or finishing is progress."""
    note_progress()
