"""Fixtures for the directory tests: a setup actor, and factories that go through the services
so that objects are built exactly as in production (event-log readers are in ``helpers``)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

import pytest

from directory import services
from directory.actors import Actor
from directory.models import Device, User

_seq = count(1)


@pytest.fixture
def system() -> Actor:
    """The actor for setup writes, distinguishable from the actor a test asserts on."""
    return Actor.system("test-setup")


@pytest.fixture
def make_user(db: None, system: Actor) -> Callable[..., User]:
    def make(username: str | None = None, **fields: Any) -> User:
        username = username or f"user{next(_seq)}"
        fields.setdefault("email", f"{username}@example.com")
        return services.user_create(actor=system, username=username, **fields)

    return make


@pytest.fixture
def make_device(db: None, system: Actor) -> Callable[..., Device]:
    def make(hostname: str | None = None, **fields: Any) -> Device:
        fields.setdefault("os_family", "linux")
        return services.device_create(actor=system, hostname=hostname or f"host{next(_seq)}", **fields)

    return make


@pytest.fixture(autouse=True)
def fast_password_hasher(settings: Any) -> None:
    """Admin fixtures hash a password each; the production hasher makes that ~0.2 s per account.
    Hashing is not what these tests check."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
