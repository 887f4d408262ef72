"""Handing SQLite's write lock from one process to the next promptly, and in turn.

SQLite has one write lock per database. A writer that finds it taken waits in SQLite's busy
handler, which sleeps 1, 2, 5 … 50, 100 ms between tries; meanwhile a worker draining the
queue commits its group and takes the lock again within microseconds. So a web request or an
API call that wants to write could wait for many worker groups in a row, and a burst of API
runs was paced by its turns at the lock, not by the work (the benchmark's enqueuer spent most
of its time asleep in the busy handler).

This lock sits in front of ``BEGIN IMMEDIATE``, as two advisory ``flock`` files beside the
database, so processes see each other:

- ``<db>-writer``: taken before ``BEGIN`` and released after ``COMMIT``/``ROLLBACK``. A process
  that finds it taken polls it every 0.05–1 ms instead of sleeping in SQLite's coarse steps.
- ``<db>-waiting``: a shared lock held by every transaction waiting for its turn. A worker's
  group transaction (``CommitGroup``) checks it between steps and commits early when someone
  waits, and before it begins again it lets the short writers go first (see below). Where the
  system has open-file-description locks (Linux), the check asks the kernel whether a lock
  *could* be taken (``F_OFD_GETLK``) without taking one; elsewhere it tries an exclusive
  ``flock`` and drops it at once, and two processes checking at the same instant can each
  take the other's check for a waiter (a group then commits early: harmless, only slower).

Short writers (a request, an API call queueing a run: every transaction that is not a worker's
group) go first while they are active: a group that wants the lock gives way while one waits,
while one holds the lock, and for ``SHORT_WRITER_GAP`` after one released it — a client queueing
run after run is back within that gap — for at most ``YIELD_LIMIT`` seconds per transaction, so
a stream of short writers cannot starve the workers. Two stamps in ``<db>-writer`` (the monotonic
time a short writer last took and last released the lock) tell the groups. Why give way for the
gap too: a group that slips into it holds the lock for a whole step while the client waits, and
its first step after another process wrote is its slowest (SQLite rereads the pages it needs,
the group reloads what it memoises per transaction) — measured, a burst of 2,000 API runs took
twice as long to queue, and the workers ran the executions they took meanwhile at a third of
their speed; both sides are faster taking longer turns.

It is scheduling only: SQLite's own lock still decides who writes, so a writer that does not
come through here (an autocommit statement, another program) is exactly as safe as before and
merely waits in the busy handler as it always did. The kernel drops a dead process's locks.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import struct
import time

# The lock files beside a database ``<db>``: ``<db>-writer`` and ``<db>-waiting``.
LOCK_FILE_SUFFIXES = ("-writer", "-waiting")

# How long a group defers its next transaction to short writers, at most.
YIELD_LIMIT = 0.05
# How long after a short writer released the lock a group still counts it as active.
SHORT_WRITER_GAP = 0.002
# A short writer's "took the lock" stamp older than this, with no release after it, is not
# trusted: its process may have died holding the lock (the kernel drops the lock, not the stamp).
_HOLDING_STAMP_LIMIT = 1.0
_FIRST_PAUSE = 0.00005
_LONGEST_PAUSE = 0.001  # a waiting request or API call
_LONGEST_GROUP_PAUSE = 0.005  # a worker waiting for another worker's group: no one is kept waiting


def _try_flock(fd: int, operation: int) -> bool:
    """Take ``operation`` on ``fd`` if no one holds a conflicting lock; False if someone does."""
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class _FlockMarks:
    """Waiting marks as ``flock`` locks: portable, but a check takes (and drops) an exclusive lock,
    which another process's check can mistake for a waiter."""

    @staticmethod
    def mark(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_SH)

    @staticmethod
    def unmark(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)

    @staticmethod
    def anyone(fd: int) -> bool:
        if _try_flock(fd, fcntl.LOCK_EX):
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
        return True

    @staticmethod
    def work_on(fd: int) -> bool:
        return True


class _OpenFileMarks:
    """Waiting marks as open-file-description record locks (Linux): owned by the open file, like
    ``flock`` (so two connections of one process are two waiters), and checked with
    ``F_OFD_GETLK``, which reports a conflicting lock without taking one, so checks never collide."""

    # struct flock: l_type, l_whence, l_start, l_len, l_pid (0 for OFD locks), native alignment.
    _LAYOUT = "@hhqqi4x"

    @classmethod
    def _request(cls, fd: int, command: int, kind: int) -> int:
        """Send one whole-file request; returns the answer's l_type (what F_OFD_GETLK found)."""
        answer = fcntl.fcntl(fd, command, _FLOCK_REQUESTS[kind])
        return struct.unpack(cls._LAYOUT, answer)[0]

    @classmethod
    def mark(cls, fd: int) -> None:
        cls._request(fd, fcntl.F_OFD_SETLKW, fcntl.F_RDLCK)

    @classmethod
    def unmark(cls, fd: int) -> None:
        cls._request(fd, fcntl.F_OFD_SETLK, fcntl.F_UNLCK)

    @classmethod
    def anyone(cls, fd: int) -> bool:
        return cls._request(fd, fcntl.F_OFD_GETLK, fcntl.F_WRLCK) != fcntl.F_UNLCK

    @classmethod
    def work_on(cls, fd: int) -> bool:
        """Does this kernel take them? (Python may name the constants on a kernel older than 3.15,
        or in a sandbox that refuses them; then the call fails with EINVAL.)"""
        try:
            cls.anyone(fd)
        except OSError:
            return False
        return True


# The three whole-file requests, packed once: the check runs at every step boundary of a group.
_FLOCK_REQUESTS = {
    kind: struct.pack(_OpenFileMarks._LAYOUT, kind, os.SEEK_SET, 0, 0, 0)
    for kind in (fcntl.F_RDLCK, fcntl.F_WRLCK, fcntl.F_UNLCK)
}

# The preferred kind; each lock checks that it works (``WriterLock._open``) and else uses flock.
_MARKS: type[_FlockMarks] | type[_OpenFileMarks] = _OpenFileMarks if hasattr(fcntl, "F_OFD_GETLK") else _FlockMarks


class _ShortWriterStamps:
    """When a short writer last took and last released the lock: two native doubles of
    ``time.monotonic()`` (one clock for every process of the machine) at the start of the
    ``-writer`` file, which holds nothing else. A torn or missing read only means one wrong
    guess at whether to give way."""

    _TOOK, _RELEASED = 0, 8
    _STAMP = struct.Struct("=d")
    _BOTH = struct.Struct("=dd")

    @classmethod
    def took(cls, fd: int) -> None:
        os.pwrite(fd, cls._STAMP.pack(time.monotonic()), cls._TOOK)

    @classmethod
    def released(cls, fd: int) -> None:
        os.pwrite(fd, cls._STAMP.pack(time.monotonic()), cls._RELEASED)

    @classmethod
    def active(cls, fd: int, now: float) -> bool:
        """Does a short writer hold the lock, or did one release it less than the gap ago?"""
        # (Bytes not written yet read as 0.0: "long ago".)
        took, released = cls._BOTH.unpack(os.pread(fd, cls._BOTH.size, 0).ljust(cls._BOTH.size, b"\0"))
        if took > released:
            return now - took < _HOLDING_STAMP_LIMIT
        return now - released < SHORT_WRITER_GAP


class WriterLock:
    """One connection's handle on a database's writer and waiting locks (its own open files, so
    two connections of one process queue like two processes)."""

    def __init__(self, database: str) -> None:
        self.database = database
        self._open()

    def _open(self) -> None:
        # The database file's permissions, as SQLite gives its -wal and -shm files: a web server and
        # workers running as different users of one group can share the database, so the locks too.
        try:
            mode = os.stat(self.database).st_mode & 0o666
        except FileNotFoundError:
            mode = 0o644
        writer, waiting = LOCK_FILE_SUFFIXES
        self._pid = os.getpid()
        self._writer = os.open(f"{self.database}{writer}", os.O_RDWR | os.O_CREAT, mode)
        try:
            self._waiting = os.open(f"{self.database}{waiting}", os.O_RDWR | os.O_CREAT, mode)
        except OSError:
            os.close(self._writer)
            raise
        self._marks = _MARKS if _MARKS.work_on(self._waiting) else _FlockMarks
        self.held = False
        self._held_as_group = False

    def _after_fork(self) -> None:
        """In a forked child, open files of its own: the inherited ones share the parent's locks,
        so the child would pass as the holder of a lock its parent holds, and could not unlock it."""
        if os.getpid() != self._pid:
            for fd in (self._writer, self._waiting):
                with contextlib.suppress(OSError):
                    os.close(fd)  # the child's copies only: the parent's locks stay
            self._open()

    def acquire(self, timeout: float, *, group: bool = False) -> None:
        """Wait for the writer lock, up to ``timeout`` seconds ("database is locked" after that,
        as SQLite would say). A ``group`` lets short writers go first (see the module's doc)."""
        self._after_fork()
        if group:
            self._acquire_as_group(timeout)
            return
        if not _try_flock(self._writer, fcntl.LOCK_EX):
            self._wait_as_short_writer(timeout)
        self.held, self._held_as_group = True, False
        _ShortWriterStamps.took(self._writer)

    def _wait_as_short_writer(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            self._marks.mark(self._waiting)  # seen by the group holding the lock
            pause = _FIRST_PAUSE
            while not _try_flock(self._writer, fcntl.LOCK_EX):
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked")
                time.sleep(pause)
                pause = min(pause * 2, _LONGEST_PAUSE)
        finally:
            self._marks.unmark(self._waiting)  # (unmarking a mark not made is a no-op)

    def _acquire_as_group(self, timeout: float) -> None:
        now = time.monotonic()
        deadline, give_way_until = now + timeout, now + YIELD_LIMIT
        pause = _FIRST_PAUSE
        while True:
            giving_way = now < give_way_until and self.short_writers_active(now)
            if not giving_way and _try_flock(self._writer, fcntl.LOCK_EX):
                self.held, self._held_as_group = True, True
                return
            if now >= deadline:
                raise sqlite3.OperationalError("database is locked")
            time.sleep(pause)
            # Short writers come and go within milliseconds; another group holds for its budget.
            pause = min(pause * 2, _LONGEST_PAUSE if giving_way else _LONGEST_GROUP_PAUSE)
            now = time.monotonic()

    def release(self) -> None:
        if self.held and os.getpid() == self._pid:  # never unlock a parent's lock after a fork
            if not self._held_as_group:
                _ShortWriterStamps.released(self._writer)
            fcntl.flock(self._writer, fcntl.LOCK_UN)
        self.held = False

    def others_waiting(self) -> bool:
        """Is another transaction waiting for the writer lock?"""
        self._after_fork()
        return self._marks.anyone(self._waiting)

    def short_writers_active(self, now: float | None = None) -> bool:
        """Is a short writer waiting for the lock, holding it, or just gone from it?"""
        if self.others_waiting():
            return True
        return _ShortWriterStamps.active(self._writer, time.monotonic() if now is None else now)

    def close(self) -> None:
        self.release()
        for fd in (self._writer, self._waiting):
            with contextlib.suppress(OSError):
                os.close(fd)
