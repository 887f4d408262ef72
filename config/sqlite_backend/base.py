"""``django.db.backends.sqlite3`` whose transactions queue for the write lock through
``WriterLock`` (see there for why). Everything else is Django's backend unchanged."""

from __future__ import annotations

import logging
from typing import Any

from django.db.backends.sqlite3 import base

from config.sqlite_backend.creation import DatabaseCreation
from config.sqlite_backend.writer_lock import WriterLock

logger = logging.getLogger("keyflow.db")


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    # Set by a worker's group transaction before it begins (``CommitGroup.open``).
    keyflow_group = False
    # This connection's handle on the write-lock queue (None: in-memory, or no lock files).
    writer_lock: WriterLock | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        self._close_writer_lock()
        name = str(self.settings_dict["NAME"])
        if not self.is_in_memory_db() and not name.startswith("file:"):
            try:
                self.writer_lock = WriterLock(name)
            except OSError:  # scheduling only: without it SQLite's own lock still decides, as before
                logger.warning("no write-lock queue for %s: cannot create its lock files", name, exc_info=True)
        return conn

    def _start_transaction_under_autocommit(self) -> None:
        lock = self.writer_lock
        if lock is not None and not lock.held:
            with self.wrap_database_errors:
                lock.acquire(float(self.settings_dict["OPTIONS"].get("timeout", 5)), group=self.keyflow_group)
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _commit(self) -> Any:
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self) -> Any:
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self) -> Any:
        try:
            return super()._close()
        finally:
            self._close_writer_lock()

    # --- statements on the driver connection ----------------------------------------------
    #
    # Django's cursor wrapper (connection checks, the ``%s`` → ``?`` rewrite by regex, execute
    # hooks) costs more Python than SQLite spends on a short statement; a workflow step runs a
    # handful, and a savepoint with its release around each. Whenever queries are being logged
    # or wrapped (``DEBUG``, ``CaptureQueriesContext``, ``execute_wrapper``) they go through the
    # cursor as before, so they are seen.

    def direct_connection(self) -> Any:
        """The driver connection for a statement to run on directly, or None to go through
        Django's cursor. Refuses a broken transaction as Django's cursor would."""
        raw = self.connection
        if raw is None or self.execute_wrappers or self.queries_logged:
            return None
        self.validate_thread_sharing()
        self.validate_no_broken_transaction()
        return raw

    def _savepoint(self, sid: str) -> None:
        self._savepoint_statement(self.ops.savepoint_create_sql(sid), super()._savepoint, sid)

    def _savepoint_rollback(self, sid: str) -> None:
        self._savepoint_statement(self.ops.savepoint_rollback_sql(sid), super()._savepoint_rollback, sid)

    def _savepoint_commit(self, sid: str) -> None:
        self._savepoint_statement(self.ops.savepoint_commit_sql(sid), super()._savepoint_commit, sid)

    def _savepoint_statement(self, sql: str, through_cursor: Any, sid: str) -> None:
        raw = self.direct_connection()
        if raw is None:
            through_cursor(sid)
            return
        with self.wrap_database_errors:
            raw.execute(sql)

    def writers_waiting(self) -> bool:
        """Is another transaction waiting for this database's write lock?"""
        lock = self.writer_lock
        return lock is not None and lock.others_waiting()

    def _release_writer_lock(self) -> None:
        lock = self.writer_lock
        if lock is not None:
            lock.release()

    def _close_writer_lock(self) -> None:
        lock = self.writer_lock
        if lock is not None:
            lock.close()
            self.writer_lock = None
