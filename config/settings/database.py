"""Database: DATABASE_URL, or an SQLite file in WAL mode for the embedded default.

SQLite is tuned for one machine with several processes (web + workers): WAL lets readers
proceed during writes, and IMMEDIATE transactions take the write lock up front so two writers
wait on the busy timeout instead of failing with "database is locked" mid-transaction.
"""

from __future__ import annotations

import os

import dj_database_url

from config.env import env_int, env_str

from .base import VAR_DIR

_DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'keyflow.sqlite3'}"
DATABASE_URL = env_str("DATABASE_URL", _DEFAULT_SQLITE)

_db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 600), conn_health_checks=True)

if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0 if _db["NAME"] == ":memory:" else _db["CONN_MAX_AGE"]
    _db.setdefault("OPTIONS", {}).update(
        {
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA busy_timeout=30000;"
            ),
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
    )
    # A file, not :memory:, so a real worker process can share the test database; one per test
    # process, so two test runs on one checkout do not clobber each other.
    _db["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

DATABASES = {"default": _db}
