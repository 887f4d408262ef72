"""Detecting the external services some tests need (PostgreSQL, Redis, Chromium).

On a fresh user machine these are absent and the tests skip with the reason; CI sets
KEYFLOW_REQUIRE_SERVICES=1 so that a missing service fails the run instead of hiding it.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

CHROMIUM = Path(os.environ.get("KEYFLOW_CHROMIUM", "/usr/bin/chromium"))


def services_required() -> bool:
    return os.environ.get("KEYFLOW_REQUIRE_SERVICES", "") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the test, or fail it when CI requires the services to be present."""
    if services_required():
        pytest.fail(f"{reason} (KEYFLOW_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        skip_or_fail("needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test")


def require_redis() -> None:
    if not settings.REDIS_URL:
        skip_or_fail("needs Redis: set REDIS_URL=redis://127.0.0.1:6379/0")


def require_chromium() -> None:
    if not CHROMIUM.exists():
        skip_or_fail(f"needs Chromium at {CHROMIUM}: apt-get install -y chromium")
