"""Group and policy actions: create a user group, device group membership, policy bindings."""

from __future__ import annotations

import pytest

from directory.models import DeviceGroup, Policy, UserGroup
from tests.workflows.actions.conftest import events_since, last_event

pytestmark = pytest.mark.django_db


def test_create_user_group(call, world):
    mark = last_event()
    ran = call("user_group.create", {"name": "Contractors", "description": "External", "attributes": {"tier": 2}})
    group = UserGroup.objects.get(name="Contractors")
    assert ran.output == {"id": group.pk, "name": "Contractors", "description": "External", "attributes": {"tier": 2}}
    [event] = events_since(mark)
    assert (event.type, event.resource_name, event.actor_type) == ("user_group.created", "Contractors", "execution")

    again = call("user_group.create", {"name": "Contractors"})
    assert again.status == "failed" and again.error == "name: User group with this Name already exists."


def test_add_and_remove_a_device_from_a_device_group(call, world):
    mark = last_event()
    ran = call("device_group.add_device", {"device": "pc-7", "device_group": "Laptops"})
    assert ran.output == {
        "device_id": world["pc"].pk,
        "hostname": "pc-7",
        "device_group_id": world["laptops"].pk,
        "device_group": "Laptops",
        "changed": True,
    }
    assert set(world["laptops"].members.values_list("hostname", flat=True)) == {"lin-042", "pc-7"}
    assert call("device_group.add_device", {"device": "pc-7", "device_group": "Laptops"}).output["changed"] is False

    ran = call("device_group.remove_device", {"device": world["laptop"].pk, "device_group": world["laptops"].pk})
    assert ran.output["changed"] is True
    assert list(DeviceGroup.objects.get(name="Laptops").members.values_list("hostname", flat=True)) == ["pc-7"]
    events = [(e.type, e.resource_name, e.related_name) for e in events_since(mark)]
    assert events == [
        ("device_group.member_added", "Laptops", "pc-7"),
        ("device_group.member_removed", "Laptops", "lin-042"),
    ]


def test_unknown_device_group_names_it(call, world):
    ran = call("device_group.add_device", {"device": "pc-7", "device_group": "Desktops"})
    assert ran.status == "failed" and ran.error == "No device group matches 'Desktops'"


@pytest.mark.parametrize(("target", "name"), [("device", "pc-7"), ("device_group", "Laptops")])
def test_bind_and_unbind_a_policy(call, world, target, name):
    firewall = Policy.objects.create(name="Firewall on", type="firewall")
    mark = last_event()
    ran = call("policy.bind", {"policy": "Firewall on", target: name})
    assert ran.status == "succeeded", ran.error
    assert ran.output["target"]["type"] == target and ran.output["target"]["name"] == name
    assert ran.output["changed"] is True and ran.output["policy_id"] == firewall.pk
    bound = firewall.devices if target == "device" else firewall.device_groups
    assert list(bound.values_list("pk", flat=True)) == [ran.output["target"]["id"]]
    assert call("policy.bind", {"policy": "Firewall on", target: name}).output["changed"] is False

    ran = call("policy.unbind", {"policy": firewall.pk, target: name})
    assert ran.output["changed"] is True and not bound.exists()
    events = [(e.type, e.resource_name, e.related_type, e.related_name) for e in events_since(mark)]
    assert events == [("policy.bound", "Firewall on", target, name), ("policy.unbound", "Firewall on", target, name)]


def test_bind_needs_exactly_one_target(call, world, administrator, admin_role):
    from workflows.services import WorkflowInvalid, workflow_create

    for params in ({"policy": "Encrypt"}, {"policy": "Encrypt", "device": "pc-7", "device_group": "Laptops"}):
        with pytest.raises(WorkflowInvalid) as caught:
            workflow_create(
                name="bind",
                definition={
                    "dsl": "1.0",
                    "trigger": {"type": "manual"},
                    "do": [{"bind": {"call": "policy.bind", "with": params}}],
                },
                run_as=admin_role,
                actor=administrator,
            )
        assert [p.message for p in caught.value.problems] == ["give exactly one of 'device' or 'device_group'"]
    ran = call("policy.bind", {"policy": "Encrypt", "device": "{{ '' }}"})
    assert ran.status == "failed"
    assert "device" in ran.error
