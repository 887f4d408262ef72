"""The SQLite write-lock queue (``config.sqlite_backend``): waiting writers are seen, a worker's
group gives way to them, and the lock follows transactions exactly."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
import time

import pytest
from django.db import connection, transaction

from config.sqlite_backend import writer_lock
from config.sqlite_backend.writer_lock import WriterLock
from executions.commit_group import CommitGroup


@pytest.fixture
def database(tmp_path) -> str:
    return str(tmp_path / "db.sqlite3")


@pytest.fixture
def locks(database):
    made: list[WriterLock] = []

    def make() -> WriterLock:
        made.append(WriterLock(database))
        return made[-1]

    yield make
    for lock in made:
        lock.close()


def _acquire_in_thread(lock: WriterLock, **kwargs) -> tuple[threading.Thread, list[BaseException | None]]:
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            lock.acquire(10, **kwargs)
            outcome.append(None)
        except BaseException as exc:  # reported to the test
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until(condition, limit: float = 10.0) -> None:
    event = threading.Event()
    for _ in range(int(limit / 0.001)):
        if condition():
            return
        event.wait(0.001)
    raise AssertionError("condition never became true")


def test_a_second_writer_waits_and_is_told_the_database_is_locked_after_its_timeout(locks):
    first, second = locks(), locks()
    first.acquire(1)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        second.acquire(0.01)
    assert not second.held and first.held
    first.release()
    second.acquire(0.01)
    assert second.held


def test_the_holder_sees_a_waiting_writer_until_that_writer_has_the_lock(locks):
    holder, waiter = locks(), locks()
    holder.acquire(1)
    assert not holder.others_waiting()
    thread, outcome = _acquire_in_thread(waiter)
    _wait_until(holder.others_waiting)
    holder.release()
    thread.join(10)
    assert outcome == [None] and waiter.held
    assert not holder.others_waiting()  # the waiter took it: no one waits any more


def test_a_group_gives_way_to_writers_already_waiting(locks, monkeypatch):
    monkeypatch.setattr(writer_lock, "YIELD_LIMIT", 10.0)
    group, waiter, third = locks(), locks(), locks()
    third.acquire(1)
    thread, outcome = _acquire_in_thread(waiter)  # waits behind ``third``
    _wait_until(third.others_waiting)
    group_thread, group_outcome = _acquire_in_thread(group, group=True)
    third.release()
    thread.join(10)
    assert outcome == [None] and waiter.held and not group.held  # the waiting writer went first
    waiter.release()
    group_thread.join(10)
    assert group_outcome == [None] and group.held


def test_short_writers_are_active_while_they_hold_the_lock_and_for_a_gap_after(locks, monkeypatch):
    monkeypatch.setattr(writer_lock, "SHORT_WRITER_GAP", 0.0)
    short, group = locks(), locks()
    assert not group.short_writers_active()  # no one has written yet
    short.acquire(1)
    assert group.short_writers_active()  # holding: the gap does not count
    short.release()
    released = time.monotonic()
    assert not group.short_writers_active()
    monkeypatch.setattr(writer_lock, "SHORT_WRITER_GAP", 10.0)
    assert group.short_writers_active(released)
    assert not group.short_writers_active(released + 10.5)


def test_a_holding_stamp_left_by_a_dead_short_writer_is_not_trusted_for_long(locks):
    group = locks()
    pid = os.fork()
    if pid == 0:  # the child takes the lock and dies holding it: the kernel drops the lock
        child = WriterLock(group.database)
        child.acquire(1)
        os._exit(0)
    os.waitpid(pid, 0)
    now = time.monotonic()
    assert group.short_writers_active(now)
    assert not group.short_writers_active(now + writer_lock._HOLDING_STAMP_LIMIT + 0.5)
    group.acquire(1, group=True)  # the lock itself is free
    assert group.held


def test_groups_do_not_count_as_short_writers(locks):
    first, second = locks(), locks()
    first.acquire(1, group=True)
    assert not second.short_writers_active()  # a group holds: another group does not give way to it
    first.release()
    assert not second.short_writers_active()


def test_a_group_gives_way_to_a_short_writer_coming_back_for_the_lock(locks, monkeypatch):
    """A client queueing run after run leaves the lock free for a moment between two runs; a
    group must not take it then (it would hold it for a whole step while the client waits)."""
    monkeypatch.setattr(writer_lock, "YIELD_LIMIT", 30.0)
    monkeypatch.setattr(writer_lock, "SHORT_WRITER_GAP", 30.0)
    short, group = locks(), locks()
    short.acquire(1)
    thread, outcome = _acquire_in_thread(group, group=True)
    short.release()
    threading.Event().wait(0.05)
    assert not group.held  # the lock is free, but the short writer was just here
    short.acquire(0.5)  # so it is still free for the short writer's next run
    short.release()
    monkeypatch.setattr(writer_lock, "SHORT_WRITER_GAP", 0.0)  # the short writer is gone
    thread.join(10)
    assert outcome == [None] and group.held


def test_a_group_gives_way_to_short_writers_for_at_most_its_limit(locks, monkeypatch):
    monkeypatch.setattr(writer_lock, "YIELD_LIMIT", 0.05)
    monkeypatch.setattr(writer_lock, "SHORT_WRITER_GAP", 3600.0)
    short, group = locks(), locks()
    short.acquire(1)
    short.release()
    started = time.monotonic()
    group.acquire(30, group=True)
    elapsed = time.monotonic() - started
    assert group.held and 0.05 <= elapsed < 10  # it gave way, and not for the whole gap


@pytest.fixture(params=["open_file", "flock"])
def marks(request, monkeypatch):
    """Both ways of marking a waiter: open-file-description locks where the system has them, and
    the portable ``flock`` fallback."""
    if request.param == "open_file" and not hasattr(writer_lock.fcntl, "F_OFD_GETLK"):
        pytest.skip("this system has no open-file-description locks")
    chosen = writer_lock._OpenFileMarks if request.param == "open_file" else writer_lock._FlockMarks
    monkeypatch.setattr(writer_lock, "_MARKS", chosen)
    return chosen


def test_each_way_of_marking_shows_a_waiter_to_the_holder_and_only_while_it_waits(locks, marks):
    holder, waiter, second = locks(), locks(), locks()
    holder.acquire(1)
    thread, outcome = _acquire_in_thread(waiter)
    _wait_until(holder.others_waiting)
    assert second.others_waiting()  # any connection sees it, the same process's included
    holder.release()
    thread.join(10)
    assert outcome == [None] and not holder.others_waiting() and not second.others_waiting()


def test_checking_for_waiters_is_never_mistaken_for_a_waiter(locks):
    """Two groups check at the same time all through a drain; neither may read the other's check
    as a waiting writer (it would commit early for no one)."""
    if not hasattr(writer_lock.fcntl, "F_OFD_GETLK"):
        pytest.skip("the portable flock check can collide; only open-file-description locks cannot")
    assert writer_lock._MARKS is writer_lock._OpenFileMarks
    checker, other = locks(), locks()
    stop = threading.Event()
    seen: list[bool] = []

    def keep_checking() -> None:
        while not stop.is_set():
            seen.append(other.others_waiting())

    thread = threading.Thread(target=keep_checking)
    thread.start()
    try:
        mine = [checker.others_waiting() for _ in range(20000)]
    finally:
        stop.set()
        thread.join(10)
    assert not any(mine) and not any(seen) and seen


def test_a_group_waiting_is_not_a_waiting_writer(locks):
    """Two workers' groups take turns by budget; only requests and API calls make a group yield."""
    holder, other_group = locks(), locks()
    holder.acquire(1)
    thread, outcome = _acquire_in_thread(other_group, group=True)
    assert not holder.others_waiting()
    holder.release()
    thread.join(10)
    assert outcome == [None]


def test_a_forked_child_cannot_release_its_parents_lock(locks):
    parent, other = locks(), locks()
    parent.acquire(1)
    pid = os.fork()
    if pid == 0:  # the child: its copy of the handle must not unlock the parent's lock
        parent.release()
        os._exit(0)
    os.waitpid(pid, 0)
    with pytest.raises(sqlite3.OperationalError):
        other.acquire(0.01)


@pytest.mark.django_db(transaction=True)
def test_the_backend_holds_the_lock_exactly_for_a_transaction():
    if not hasattr(connection, "writers_waiting"):
        pytest.skip("the write-lock queue is the embedded SQLite backend's")
    with transaction.atomic():
        assert connection.writer_lock.held
    assert not connection.writer_lock.held
    with pytest.raises(RuntimeError), transaction.atomic():
        assert connection.writer_lock.held
        raise RuntimeError("rolled back")
    assert not connection.writer_lock.held


@pytest.mark.django_db(transaction=True)
def test_a_group_commits_early_when_another_writer_waits():
    if not hasattr(connection, "writers_waiting"):
        pytest.skip("the write-lock queue is the embedded SQLite backend's")
    group = CommitGroup(budget=3600)
    group.open()
    waiter = WriterLock(str(connection.settings_dict["NAME"]))
    try:
        assert not group.spent()
        thread, outcome = _acquire_in_thread(waiter)
        _wait_until(group.spent)  # far within its budget: spent because someone waits
        group.commit()
        thread.join(10)
        assert outcome == [None]
    finally:
        waiter.close()


def test_removing_a_test_database_removes_its_lock_files(tmp_path):
    from django.db import connections

    from config.sqlite_backend.creation import DatabaseCreation

    if connections["default"].vendor != "sqlite":
        pytest.skip("the write-lock queue is the embedded SQLite backend's")
    name = str(tmp_path / "test-1.sqlite3")
    lock = WriterLock(name)
    lock.close()
    open(name, "w").close()
    DatabaseCreation(connections["default"])._destroy_test_db(name, verbosity=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_forked_child_queues_behind_its_parent_with_files_of_its_own(locks):
    parent, other = locks(), locks()
    parent.acquire(1)
    pid = os.fork()
    if pid == 0:  # the child, holding an inherited handle: it must wait like any other process
        try:
            parent.acquire(0.05)
        except sqlite3.OperationalError:
            os._exit(0)
        os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent.held
    parent.release()
    other.acquire(0.05)  # nothing was left locked by the child
    assert other.held


def test_lock_files_take_the_databases_permissions(database):
    open(database, "w").close()
    os.chmod(database, 0o660)
    lock = WriterLock(database)
    try:
        assert os.stat(f"{database}-writer").st_mode & 0o777 == 0o660 & ~_umask()
    finally:
        lock.close()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_kernel_that_refuses_open_file_locks_gets_flock_marks(locks, monkeypatch):
    """Python names F_OFD_* wherever it was built with them; a kernel older than 3.15 or a sandbox
    answers EINVAL. The lock then marks waiters with flock instead of failing transactions."""
    if not hasattr(writer_lock.fcntl, "F_OFD_GETLK"):
        pytest.skip("this Python has no open-file-description locks to refuse")

    def refuse(cls, *args, **kwargs):
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(writer_lock._OpenFileMarks, "_request", classmethod(refuse))
    holder, waiter = locks(), locks()
    assert holder._marks is writer_lock._FlockMarks and waiter._marks is writer_lock._FlockMarks
    holder.acquire(1)
    thread, outcome = _acquire_in_thread(waiter)
    _wait_until(holder.others_waiting)
    holder.release()
    thread.join(10)
    assert outcome == [None] and waiter.held and not holder.others_waiting()
