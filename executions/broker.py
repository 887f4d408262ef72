"""django-q2's ORM broker, woken when a task is queued on this machine instead of only by its poll.

The ORM broker (the embedded default) finds new tasks by polling: an idle cluster looks every
``Q_POLL`` seconds, so a run queued just after a look waits that long before a worker starts it.
Here the idle wait is a ``select`` on a UNIX datagram socket of the cluster's own in
``<KEYFLOW_VAR_DIR>/wake/``; a process that commits a task row sends one byte to every socket
there (``wake_local_clusters``), and the cluster looks at once. The poll stays as it was, so a
cluster on another machine, or a lost datagram, costs no more than before; sending never blocks
and never fails the caller. This is django-q2's documented extension point (``broker_class``).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import logging
import os
import select
import socket
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from config import sql_names

logger = logging.getLogger("keyflow.worker")


def wake_dir() -> Path:
    return Path(settings.VAR_DIR) / "wake"


class WakeableORM(ORM):
    """The ORM broker whose idle wait ends early when a task is queued on this machine."""

    _socket: socket.socket | None = None
    _socket_pid: int | None = None

    def dequeue(self) -> list[tuple[int, object]] | None:
        """Take up to ``Q_BULK`` tasks (each locked by a conditional update, as django-q2's ORM broker
        does); with none, wait up to ``Q_POLL`` seconds or until woken."""
        self.get_connection()  # closes a stale connection outside a transaction, as django-q2's does
        select, lock = _statements()
        # Django-q2's two queries written out: through the ORM the look and the lock cost ~0.8-1.3 ms of the
        # hand-over of every run to a worker, so ~0.2-0.3 ms (SQLite, 2-core VM).
        with connections[Conf.ORM or DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(select, [self.list_key, _stamp(timezone.now()), Conf.BULK])
            tasks = cursor.fetchall()
            taken = []
            for pk, locked_until, payload in tasks:
                cursor.execute(lock, [_stamp(self.timeout(None)), pk, locked_until])
                if cursor.rowcount == 1:  # else another cluster was faster
                    taken.append((pk, payload))
        if tasks:
            return taken
        self._wait(Conf.POLL)
        return None

    def _wait(self, seconds: float) -> None:
        listener = self._listener()
        if listener is None:
            select.select([], [], [], seconds)
            return
        ready, _, _ = select.select([listener], [], [], seconds)
        if ready:
            with contextlib.suppress(BlockingIOError, InterruptedError):
                while listener.recv(64):  # several wake-ups since the last look: one look serves them all
                    pass

    def _listener(self) -> socket.socket | None:
        """This process's socket in the wake directory (made on first use: the broker object is
        created before django-q2 forks the process that polls)."""
        if self._socket is not None and self._socket_pid == os.getpid():
            return self._socket
        path = wake_dir() / f"{os.getpid()}.sock"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            listener.bind(str(path))
            listener.setblocking(False)
        except OSError:
            logger.warning("no wake-up socket at %s: the broker only polls", path, exc_info=True)
            self._socket, self._socket_pid = None, os.getpid()
            return None
        self._socket, self._socket_pid = listener, os.getpid()
        return listener


@functools.cache
def _statements() -> tuple[str, str]:
    """django-q2's ORM broker's look for due tasks and its lock of one (a conditional update)."""
    table = sql_names.table(OrmQ)
    key, lock, payload = (sql_names.column(OrmQ, name) for name in ("key", "lock", "payload"))
    pk = sql_names.column(OrmQ, "id")
    return (
        f"SELECT {pk}, {lock}, {payload} FROM {table} WHERE {key} = %s AND {lock} < %s LIMIT %s",
        f"UPDATE {table} SET {lock} = %s WHERE {pk} = %s AND {lock} = %s",
    )


def _stamp(value: datetime) -> object:
    return sql_names.db_value(OrmQ, "lock", value)


def wake_local_clusters() -> None:
    """Tell every cluster on this machine that a task was queued (after the commit that queued it)."""
    try:
        paths = list(wake_dir().glob("*.sock"))
    except OSError:
        return
    if not paths:
        return
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sender.setblocking(False)
        for path in paths:
            try:
                sender.sendto(b"!", str(path))
            except OSError as exc:
                if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):  # a cluster that is gone
                    with contextlib.suppress(OSError):
                        path.unlink()
                # EAGAIN: its queue is full of wake-ups already; anything else: it polls anyway
    finally:
        sender.close()
