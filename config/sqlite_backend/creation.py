"""Test databases: removing one removes its write-lock files too (one pair per test run's pid)."""

from __future__ import annotations

from pathlib import Path

from django.db.backends.sqlite3 import creation

from config.sqlite_backend.writer_lock import LOCK_FILE_SUFFIXES


class DatabaseCreation(creation.DatabaseCreation):
    def _destroy_test_db(self, test_database_name: str, verbosity: int) -> None:
        super()._destroy_test_db(test_database_name, verbosity)
        if test_database_name and not self.is_in_memory_db(test_database_name):
            for suffix in LOCK_FILE_SUFFIXES:
                Path(f"{test_database_name}{suffix}").unlink(missing_ok=True)
