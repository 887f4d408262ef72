"""Shared fixtures: admin accounts for each kind of caller, and a plain actor."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser

from directory.models import AdminRole
from directory.roles import ADMINISTRATOR, ADMINISTRATOR_WITH_BILLING, HELP_DESK, MANAGER, READ_ONLY


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Tests create many accounts; a deliberately slow hasher would dominate the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _drains_do_not_linger(settings) -> None:
    """A woken drain a test calls returns once the queue is empty instead of waiting for more
    (``executions.tasks._linger``); the tests of lingering, and real clusters, keep the wait."""
    settings.KEYFLOW_DRAIN_LINGER_SECONDS = 0


@pytest.fixture
def make_admin(db: None) -> Callable[..., AbstractUser]:
    """Create a staff admin account holding the role with ``role_key`` (or no role)."""

    def make(username: str, role_key: str | None = None, password: str = "pw-Keyflow-123") -> AbstractUser:
        user = get_user_model().objects.create_user(username=username, password=password, is_staff=True)
        if role_key:
            user.groups.set([AdminRole.objects.get(key=role_key).group])
        return user

    return make


@pytest.fixture
def administrator(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    return make_admin("admin-ada", ADMINISTRATOR)


@pytest.fixture
def billing_admin(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    return make_admin("admin-bill", ADMINISTRATOR_WITH_BILLING)


@pytest.fixture
def manager_admin(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    return make_admin("admin-max", MANAGER)


@pytest.fixture
def help_desk_admin(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    return make_admin("admin-hal", HELP_DESK)


@pytest.fixture
def read_only_admin(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    return make_admin("admin-rox", READ_ONLY)


@pytest.fixture
def outsider(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    """A staff account with no role: may sign in, may do nothing."""
    return make_admin("outsider-otto", None)
