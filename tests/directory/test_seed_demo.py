"""``manage.py seed_demo``: a believable company, idempotent, made through the services."""

from __future__ import annotations

import datetime as dt
import random
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from directory import demo
from directory.models import (
    Command,
    CommandRun,
    Connection,
    Device,
    DeviceGroup,
    DirectoryEvent,
    NotificationChannel,
    Policy,
    User,
    UserGroup,
)

pytestmark = pytest.mark.django_db

MODELS = (
    User,
    UserGroup,
    Device,
    DeviceGroup,
    Policy,
    Command,
    CommandRun,
    NotificationChannel,
    Connection,
    DirectoryEvent,
)


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in MODELS} | {
        "memberships": UserGroup.members.through.objects.count(),
        "device memberships": DeviceGroup.members.through.objects.count(),
        "bindings": Policy.device_groups.through.objects.count(),
        "accounts": get_user_model().objects.count(),
    }


@pytest.fixture
def seeded() -> str:
    return _seed()


def test_seeds_a_believable_company(seeded):
    assert User.objects.count() == 60
    departments = dict(User.objects.values_list("department").annotate(n=Count("id")))
    assert set(departments) == {"Engineering", "Sales", "Marketing", "Finance", "Support", "People"}
    assert all(n >= 5 for n in departments.values())
    states = set(User.objects.values_list("state", flat=True))
    assert states == {"active", "staged", "suspended"}
    assert User.objects.filter(state="active").count() > 40  # mostly active
    assert User.objects.filter(employee_type="contractor").exists()
    assert User.objects.filter(employee_type="intern").exists()
    assert User.objects.filter(mfa_enrolled=False, state="active").exists()
    assert User.objects.filter(account_locked=True).exists()
    assert User.objects.filter(password_expired=True).exists()
    assert User.objects.exclude(manager=None).count() >= 50
    assert not User.objects.exclude(email__endswith="@example.com").exists()
    assert all(u.attributes.get("cost_center") for u in User.objects.all())
    today = timezone.localdate()
    assert all(u.hire_date > today for u in User.objects.filter(state="staged"))
    assert all(u.termination_date and u.termination_date <= today for u in User.objects.filter(state="suspended"))


def test_seeds_groups_per_department_and_cross_cutting(seeded):
    names = set(UserGroup.objects.values_list("name", flat=True))
    assert {"Engineering", "Sales", "Marketing", "Finance", "Support", "People"} <= names
    assert {"All Staff", "Contractors", "VPN Users"} <= names
    engineering = UserGroup.objects.get(name="Engineering")
    assert set(engineering.members.values_list("department", flat=True)) == {"Engineering"}
    assert engineering.members.count() == User.objects.filter(department="Engineering").count()
    contractors = UserGroup.objects.get(name="Contractors").members
    assert set(contractors.values_list("employee_type", flat=True)) == {"contractor"}
    assert not UserGroup.objects.get(name="All Staff").members.filter(state="suspended").exists()


def test_seeds_devices_with_compliance_gaps(seeded):
    assert 35 <= Device.objects.count() <= 45
    assert set(Device.objects.values_list("os_family", flat=True)) == {"windows", "macos", "linux"}
    assert Device.objects.exclude(owner=None).count() >= 30
    stale = timezone.now() - dt.timedelta(days=30)
    assert Device.objects.filter(disk_encrypted=False).exists()
    assert Device.objects.filter(firewall_enabled=False).exists()
    assert Device.objects.filter(last_contact_at__lt=stale).exists()
    assert Device.objects.exclude(agent_version=demo.CURRENT_AGENT).exists()
    assert Device.objects.filter(disk_encrypted=True, firewall_enabled=True, last_contact_at__gte=stale).count() > 20
    macs = DeviceGroup.objects.get(name="macOS Devices")
    assert set(macs.members.values_list("os_family", flat=True)) == {"macos"}
    assert DeviceGroup.objects.get(name="Lab").members.count() >= 1


def test_seeds_policies_commands_runs_and_channels(seeded):
    encryption = Policy.objects.get(type="disk_encryption")
    assert set(encryption.device_groups.values_list("name", flat=True)) >= {"Windows Devices", "macOS Devices"}
    assert {"firewall", "screen_lock"} <= set(Policy.objects.values_list("type", flat=True))
    assert {"Restart agent", "Collect logs", "Lock screen"} <= set(Command.objects.values_list("name", flat=True))
    runs = CommandRun.objects.all()
    assert runs.count() >= 2
    assert {r.status for r in runs} <= {"succeeded", "failed"}
    assert DirectoryEvent.objects.filter(type="command.finished").count() == runs.count()

    kinds = dict(NotificationChannel.objects.values_list("kind", "name"))
    assert set(kinds) == {"email", "slack", "teams"}
    email = NotificationChannel.objects.get(kind="email")
    assert "it@example.com" in email.recipients
    for channel in NotificationChannel.objects.exclude(kind="email"):
        assert channel.webhook_url.startswith("https://")
        with connection.cursor() as cursor:
            cursor.execute("SELECT webhook_url FROM directory_notificationchannel WHERE id = %s", [channel.pk])
            assert cursor.fetchone()[0].startswith("fernet:")


def test_seeds_connections_with_encrypted_secrets(seeded):
    assert set(Connection.objects.values_list("auth_type", flat=True)) == {"bearer", "api_key_header"}
    for conn in Connection.objects.all():
        assert conn.base_url.startswith("https://") and conn.has_secret
        with connection.cursor() as cursor:
            cursor.execute("SELECT secret FROM directory_connection WHERE id = %s", [conn.pk])
            stored = cursor.fetchone()[0]
        assert stored.startswith("fernet:") and conn.secret not in stored


def test_seeds_one_admin_account_per_builtin_role_and_prints_them(seeded):
    Account = get_user_model()
    for username, role_key, password, superuser in demo.ADMIN_ACCOUNTS:
        account = Account.objects.get(username=username)
        assert account.is_staff and account.is_active
        assert account.is_superuser is superuser
        assert account.check_password(password)
        assert list(account.groups.values_list("admin_role__key", flat=True)) == [role_key]
        assert username in seeded and password in seeded
    assert Account.objects.get(username="helpdesk").has_perm("directory.change_user")
    assert not Account.objects.get(username="helpdesk").has_perm("directory.change_user_state")
    assert "Administrator with Billing (superuser)" in seeded


def test_every_write_is_an_event_by_the_seed_actor(seeded):
    assert DirectoryEvent.objects.filter(type="user.created").count() == 60
    assert DirectoryEvent.objects.filter(type="device.created").count() == Device.objects.count()
    assert DirectoryEvent.objects.filter(type="user_group.member_added").count() == (
        UserGroup.members.through.objects.count()
    )
    assert DirectoryEvent.objects.filter(type="policy.bound").count() == Policy.device_groups.through.objects.count()
    by_seed = DirectoryEvent.objects.exclude(type="device.agent_enrolled")
    assert set(by_seed.values_list("actor_type", "actor_name")) == {("system", "seed_demo")}
    # Each device's agent enrols itself (with the token the seed issued it), as in real life.
    enrolled = DirectoryEvent.objects.filter(type="device.agent_enrolled")
    assert set(enrolled.values_list("actor_type", flat=True)) == {"agent"}
    assert enrolled.count() == Device.objects.filter(active=True).count()


def test_running_again_creates_nothing_and_keeps_passwords(seeded):
    Account = get_user_model()
    admin = Account.objects.get(username="admin")
    admin.set_password("changed-by-its-owner")
    admin.save()
    before = _counts()

    output = _seed()

    assert _counts() == before
    assert "nothing created" in output
    assert "(unchanged)" in output and demo.DEMO_PASSWORD not in output
    assert Account.objects.get(username="admin").check_password("changed-by-its-owner")


def test_once_skips_when_loaded_and_seeds_when_not():
    output = _seed("--once")
    assert User.objects.count() == 60 and "Demo data created" in output
    before = _counts()
    output = _seed("--once")
    assert output.strip() == "Demo data already loaded; nothing to do."
    assert _counts() == before


def test_a_partial_directory_is_completed_not_duplicated(seeded):
    """Deleting part of the demo and re-running restores just that part."""
    victim = Device.objects.order_by("hostname").first()
    hostname = victim.hostname
    victim.delete()
    UserGroup.objects.get(name="VPN Users").members.clear()
    mark = DirectoryEvent.objects.order_by("-id").first().pk

    _seed()

    assert Device.objects.filter(hostname=hostname).count() == 1
    assert Device.objects.count() == 40
    added = DirectoryEvent.objects.filter(pk__gt=mark)
    assert added.filter(type="device.created").count() == 1
    assert added.filter(type="user_group.member_added", resource_name="VPN Users").count() == (
        UserGroup.objects.get(name="VPN Users").members.count()
    )


def test_the_plan_is_deterministic():
    today, now = dt.date(2025, 6, 2), dt.datetime(2025, 6, 2, 12, tzinfo=dt.UTC)

    def plan() -> tuple[list[dict[str, object]], list[dict[str, object]]]:
        rng = random.Random(demo.SEED)
        users = demo._user_rows(rng, today, now)
        return users, demo._device_rows(rng, users, now)

    first, second = plan(), plan()
    assert first == second
    assert len({row["username"] for row in first[0]}) == 60
    assert len({row["hostname"] for row in first[1]}) == 40
