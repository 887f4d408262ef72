"""Devices, device groups and policies: state and events."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from directory import services
from directory.models import Device, DeviceGroup, Policy
from tests.directory.helpers import events_after, last_event_id, only_event

pytestmark = pytest.mark.django_db


# --- devices ---------------------------------------------------------------------------------


def test_create_writes_created_with_snapshot(make_user, administrator):
    owner = make_user("ann")
    mark = last_event_id()

    device = services.device_create(
        actor=administrator,
        hostname="ann-mbp",
        os_family="macos",
        os_version="14.5",
        owner=owner,
        disk_encrypted=True,
        agent_version="2.4.1",
    )

    [event] = events_after(mark)
    assert event.type == "device.created"
    assert (event.resource_type, event.resource_id, event.resource_name) == ("device", str(device.pk), "ann-mbp")
    assert event.snapshot["os_family"] == "macos"
    assert event.snapshot["owner"] == owner.pk
    assert event.snapshot["disk_encrypted"] is True
    assert event.snapshot["firewall_enabled"] is False
    assert event.actor_name == administrator.username


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [({"os_family": "beos"}, "os_family"), ({"hostname": ""}, "hostname"), ({"owner": 999_999}, "owner")],
)
def test_create_rejects_bad_input_naming_the_field(system, fields, bad_field):
    with pytest.raises(ValidationError) as caught:
        services.device_create(actor=system, **{"hostname": "h1", "os_family": "linux", **fields})
    assert bad_field in caught.value.message_dict
    assert not Device.objects.exists()


def test_duplicate_hostname_is_a_field_error(make_device, system):
    make_device("build-01")
    with pytest.raises(ValidationError) as caught:
        services.device_create(actor=system, hostname="build-01", os_family="linux")
    assert "hostname" in caught.value.message_dict


def test_update_writes_updated_with_the_changes(make_device, system):
    device = make_device("build-01", attributes={"rack": "A1", "asset": "X-9"})
    mark = last_event_id()

    services.device_update(device=device, actor=system, firewall_enabled=True, attributes={"rack": None, "ssd": 1})

    device.refresh_from_db()
    assert device.firewall_enabled is True
    assert device.attributes == {"asset": "X-9", "ssd": 1}
    [event] = events_after(mark)
    assert event.type == "device.updated"
    assert event.changes == [
        {"field": "firewall_enabled", "from": False, "to": True},
        {"field": "attributes", "from": {"rack": "A1", "asset": "X-9"}, "to": {"asset": "X-9", "ssd": 1}},
    ]


def test_update_with_unchanged_values_writes_nothing(make_device, system):
    device = make_device("build-01", os_version="24.04")
    mark = last_event_id()
    services.device_update(device=device, actor=system, os_version="24.04")
    assert events_after(mark) == []


def test_lock_is_a_device_update_and_idempotent(make_device, system):
    device = make_device("build-01")
    mark = last_event_id()

    services.device_lock(device=device, actor=system)
    services.device_lock(device=device, actor=system)

    assert Device.objects.get(pk=device.pk).locked is True
    [event] = events_after(mark)
    assert (event.type, event.changes) == ("device.updated", [{"field": "locked", "from": False, "to": True}])


def test_delete_writes_deleted_with_a_snapshot(make_device, system):
    device = make_device("build-01", serial_number="SN123")
    lab = services.device_group_create(actor=system, name="Lab")
    services.device_group_add_member(device_group=lab, device=device, actor=system)
    pk = device.pk
    mark = last_event_id()

    services.device_delete(device=device, actor=system)

    assert not Device.objects.filter(pk=pk).exists()
    [event] = events_after(mark)
    assert (event.type, event.resource_id, event.resource_name) == ("device.deleted", str(pk), "build-01")
    assert event.snapshot["serial_number"] == "SN123"
    assert event.snapshot["groups"] == [{"id": lab.pk, "name": "Lab"}]  # as it was before the delete


# --- device groups ---------------------------------------------------------------------------


def test_device_group_create_update_delete_write_no_events(system):
    """Device groups have member events only; their own lifecycle is not a trigger."""
    mark = last_event_id()
    group = services.device_group_create(actor=system, name="Lab", description="Test machines")
    services.device_group_update(device_group=group, actor=system, name="Lab A")
    assert DeviceGroup.objects.get(pk=group.pk).name == "Lab A"
    services.device_group_delete(device_group=group, actor=system)
    assert not DeviceGroup.objects.filter(pk=group.pk).exists()
    assert events_after(mark) == []


def test_device_group_duplicate_name_is_a_field_error(system):
    services.device_group_create(actor=system, name="Lab")
    with pytest.raises(ValidationError) as caught:
        services.device_group_create(actor=system, name="Lab")
    assert "name" in caught.value.message_dict


def test_device_group_members(make_device, manager_admin, system):
    device = make_device("build-01")
    group = services.device_group_create(actor=system, name="Lab")
    mark = last_event_id()

    assert services.device_group_add_member(device_group=group, device=device, actor=manager_admin) is True
    assert services.device_group_add_member(device_group=group, device=device, actor=manager_admin) is False
    assert list(group.members.all()) == [device]
    assert services.device_group_remove_member(device_group=group, device=device, actor=manager_admin) is True
    assert services.device_group_remove_member(device_group=group, device=device, actor=manager_admin) is False
    assert group.members.count() == 0

    added, removed = events_after(mark)
    assert added.type == "device_group.member_added"
    assert (added.resource_type, added.resource_id, added.resource_name) == ("device_group", str(group.pk), "Lab")
    assert (added.related_type, added.related_id, added.related_name) == ("device", str(device.pk), "build-01")
    assert added.changes == [{"field": "members", "from": None, "to": device.pk}]
    assert added.snapshot["device_group"]["name"] == "Lab"
    assert added.snapshot["device"]["hostname"] == "build-01"
    assert added.actor_name == manager_admin.username
    assert removed.type == "device_group.member_removed"
    assert removed.changes == [{"field": "members", "from": device.pk, "to": None}]


# --- policies --------------------------------------------------------------------------------


@pytest.fixture
def policy(system) -> Policy:
    return services.policy_create(
        actor=system, name="Disk encryption", type="disk_encryption", settings={"algorithm": "XTS-AES-256"}
    )


def test_policy_create_update_delete_write_no_events(system):
    mark = last_event_id()
    policy = services.policy_create(actor=system, name="Firewall", type="firewall", settings={"stealth": True})
    services.policy_update(policy=policy, actor=system, settings={"stealth": False})
    assert Policy.objects.get(pk=policy.pk).settings == {"stealth": False}
    services.policy_delete(policy=policy, actor=system)
    assert not Policy.objects.filter(pk=policy.pk).exists()
    assert events_after(mark) == []


def test_policy_type_must_be_known(system):
    with pytest.raises(ValidationError) as caught:
        services.policy_create(actor=system, name="Mystery", type="voodoo")
    assert "type" in caught.value.message_dict


def test_bind_and_unbind_a_device(policy, make_device, administrator):
    device = make_device("build-01")
    mark = last_event_id()

    assert services.policy_bind(policy=policy, device=device, actor=administrator) is True
    assert services.policy_bind(policy=policy, device=device, actor=administrator) is False
    assert list(policy.devices.all()) == [device]
    assert services.policy_unbind(policy=policy, device=device, actor=administrator) is True
    assert services.policy_unbind(policy=policy, device=device, actor=administrator) is False
    assert policy.devices.count() == 0

    bound, unbound = events_after(mark)
    assert bound.type == "policy.bound"
    assert (bound.resource_type, bound.resource_id, bound.resource_name) == (
        "policy",
        str(policy.pk),
        "Disk encryption",
    )
    assert (bound.related_type, bound.related_id, bound.related_name) == ("device", str(device.pk), "build-01")
    assert bound.changes == [{"field": "devices", "from": None, "to": device.pk}]
    assert bound.snapshot["policy"]["settings"] == {"algorithm": "XTS-AES-256"}
    assert bound.snapshot["device"]["hostname"] == "build-01"
    assert bound.actor_name == administrator.username
    assert unbound.type == "policy.unbound"
    assert unbound.changes == [{"field": "devices", "from": device.pk, "to": None}]


def test_bind_to_a_device_group(policy, system):
    group = services.device_group_create(actor=system, name="macOS")
    mark = last_event_id()

    services.policy_bind(policy=policy, device_group=group, actor=system)

    assert list(policy.device_groups.all()) == [group]
    event = only_event(id__gt=mark)
    assert (event.type, event.related_type, event.related_name) == ("policy.bound", "device_group", "macOS")
    assert event.changes == [{"field": "device_groups", "from": None, "to": group.pk}]
    assert event.snapshot["device_group"]["name"] == "macOS"


def test_bind_needs_exactly_one_target(policy, make_device, system):
    device = make_device("build-01")
    group = services.device_group_create(actor=system, name="Lab")
    mark = last_event_id()
    with pytest.raises(ValidationError):
        services.policy_bind(policy=policy, actor=system)
    with pytest.raises(ValidationError):
        services.policy_bind(policy=policy, device=device, device_group=group, actor=system)
    assert events_after(mark) == []
