"""Wake-ups between processes on one machine: a UNIX datagram socket per listening process.

Two kinds of process wait for work. A django-q2 cluster's poller (``executions.broker``) waits for
task rows: it listens in ``<KEYFLOW_VAR_DIR>/wake/``, and a process that commits a task row sends one
byte to every socket there (``wake_local_clusters``). A drain lingering for new executions
(``executions.tasks``) waits for executions queued without a task: one drain at a time lingers, the
one holding ``wake/drains/.lock``, listening in ``wake/drains/``, and a process that queues an
execution that way wakes it (``wake_drains``).

A cluster's wake-up says what was queued: a task that drains executions (``DRAIN_TASK``) or any
other (``OTHER_TASK``, an event dispatch say). A lingering drain listens for the latter too and
steps aside for it, so that it never keeps a worker process from a task that needs one.

Waiters poll as well, so a process on another machine, or a lost datagram, costs only the poll;
sending never blocks and never fails the caller.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import select
import socket
import time
from pathlib import Path
from types import TracebackType

from django.conf import settings

logger = logging.getLogger("keyflow.worker")


def wake_dir() -> Path:
    return Path(settings.VAR_DIR) / "wake"


def drain_wake_dir() -> Path:
    return wake_dir() / "drains"


def _bind(path: Path) -> socket.socket | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(str(path))
        listener.setblocking(False)
    except OSError:
        logger.warning("no wake-up socket at %s: only polling here", path, exc_info=True)
        return None
    return listener


DRAIN_TASK = b"d"
OTHER_TASK = b"t"


def _read_all(listener: socket.socket) -> bytes:
    """Every datagram waiting on ``listener`` (one look serves them all), joined."""
    received = b""
    with contextlib.suppress(BlockingIOError, InterruptedError):
        while chunk := listener.recv(64):
            received += chunk
    return received


def _wait(listeners: list[socket.socket], seconds: float) -> dict[socket.socket, bytes]:
    """Wait up to ``seconds`` for a datagram on any of ``listeners``; what each ready one received."""
    if not listeners:
        time.sleep(max(0.0, seconds))
        return {}
    ready, _, _ = select.select(listeners, [], [], seconds)
    return {listener: _read_all(listener) for listener in ready}


class _Listener:
    """This process's socket in the wake directory, made on first use: the broker object is created
    before django-q2 forks the process that polls."""

    def __init__(self) -> None:
        self.socket: socket.socket | None = None
        self.pid: int | None = None
        self.path: Path | None = None

    def get(self) -> socket.socket | None:
        path = wake_dir() / f"{os.getpid()}.sock"
        if self.pid == os.getpid() and self.path == path:
            return self.socket
        if self.socket is not None and self.pid == os.getpid():
            self.socket.close()  # the wake directory moved (a test's settings)
        self.socket, self.pid, self.path = _bind(path), os.getpid(), path
        return self.socket


_listener = _Listener()


def wait_for_wakeup(seconds: float) -> bool:
    """Wait up to ``seconds`` for a wake-up sent to this process (``wake_local_clusters``); True if
    one came."""
    listener = _listener.get()
    return bool(_wait([listener] if listener is not None else [], seconds))


class DrainListener:
    """A lingering drain's wait for new executions, if it holds ``wake/drains/.lock`` (taken on
    entering, or by a later ``wait``): it listens on its socket there, and on its process's
    cluster socket for ``OTHER_TASK`` (``other_task_queued``). The lock is the operating system's
    (``flock``): a drain that dies releases it."""

    def __init__(self) -> None:
        self._lock_file: int | None = None
        self._socket: socket.socket | None = None
        self._path: Path | None = None
        self._tasks: socket.socket | None = None
        self.other_task_queued = False

    def __enter__(self) -> DrainListener:
        self._try_to_listen()
        return self

    def __exit__(self, *exc: object | TracebackType) -> None:
        self.close()

    @property
    def listening(self) -> bool:
        return self._socket is not None

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds``: for a wake-up if this drain listens, else just the time. True if
        an execution's wake-up came."""
        if self._socket is None:
            self._try_to_listen()
        listeners = [sock for sock in (self._socket, self._tasks) if sock is not None]
        received = _wait(listeners, seconds)
        if self._tasks is not None and OTHER_TASK in received.get(self._tasks, b""):
            self.other_task_queued = True
        return self._socket is not None and self._socket in received

    def _try_to_listen(self) -> None:
        folder = drain_wake_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)  # another drain listens
            return
        path = folder / f"{os.getpid()}.sock"
        listener = _bind(path)
        if listener is None:
            os.close(fd)
            return
        self._lock_file, self._socket, self._path = fd, listener, path
        self._tasks = _listener.get()
        if self._tasks is not None:
            _read_all(self._tasks)  # wake-ups from before this linger are not news

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            if self._path is not None:
                with contextlib.suppress(OSError):
                    self._path.unlink()
        if self._lock_file is not None:
            os.close(self._lock_file)  # releases the lock
        self._lock_file = self._socket = self._path = self._tasks = None


def wake_local_clusters(kind: bytes = OTHER_TASK) -> None:
    """Tell every cluster on this machine that a task of ``kind`` was queued (after the commit that
    queued it)."""
    _send_to_all(wake_dir(), kind)


def wake_drains() -> None:
    """Tell the drain lingering on this machine, if any, that an execution was queued without a
    task of its own (after the commit that queued it)."""
    _send_to_all(drain_wake_dir(), DRAIN_TASK)


def _send_to_all(folder: Path, payload: bytes) -> None:
    try:
        paths = list(folder.glob("*.sock"))
    except OSError:
        return
    if not paths:
        return
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sender.setblocking(False)
        for path in paths:
            try:
                sender.sendto(payload, str(path))
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):  # a listener that is gone
                    with contextlib.suppress(OSError):
                        path.unlink()
                # EAGAIN: its queue is full of wake-ups already; anything else: it polls anyway
    finally:
        sender.close()
