"""``django.db.backends.sqlite3`` whose transactions queue for the write lock through
``WriterLock`` (see there for why). Everything else is Django's backend unchanged."""

from __future__ import annotations

from typing import Any

from django.db.backends.sqlite3 import base

from config.sqlite_backend.creation import DatabaseCreation
from config.sqlite_backend.writer_lock import WriterLock


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation
    # Set by a worker's group transaction before it begins (``group_transaction``).
    keyflow_group = False

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        conn = super().get_new_connection(conn_params)
        self._close_writer_lock()
        if not self.is_in_memory_db():
            self.writer_lock = WriterLock(str(self.settings_dict["NAME"]))
        return conn

    def _start_transaction_under_autocommit(self) -> None:
        lock: WriterLock | None = getattr(self, "writer_lock", None)
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

    def writers_waiting(self) -> bool:
        """Is another transaction waiting for this database's write lock?"""
        lock: WriterLock | None = getattr(self, "writer_lock", None)
        return lock is not None and lock.others_waiting()

    def _release_writer_lock(self) -> None:
        lock: WriterLock | None = getattr(self, "writer_lock", None)
        if lock is not None:
            lock.release()

    def _close_writer_lock(self) -> None:
        lock: WriterLock | None = getattr(self, "writer_lock", None)
        if lock is not None:
            lock.close()
            self.writer_lock = None
