"""Every action refuses a run-as role that lacks its permission: at save time when the role lacks it
everywhere, and at run time, on the actual object, when the role holds it only on other objects —
changing nothing. Table-driven over the registry: an action without a row here fails the test."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from guardian.shortcuts import assign_perm

from directory import services as ds
from directory.models import AdminRole, Command, CommandRun, DirectoryEvent
from directory.role_services import role_codes, role_create, role_set_permissions
from workflows.actions.registry import all_actions
from workflows.services import WorkflowInvalid, workflow_create

pytestmark = pytest.mark.django_db

# Valid params for each action, against the ``world`` fixture.
PARAMS: dict[str, dict[str, Any]] = {
    "user.activate": {"user": "ann"},
    "user.suspend": {"user": "bob"},
    "user.update": {"user": "ann", "job_title": "Lead"},
    "user.add_to_group": {"user": "bob", "group": "Sales"},
    "user.remove_from_group": {"user": "ann", "group": "Sales"},
    "user.create": {"username": "cy", "email": "cy@example.com"},
    "user.delete": {"user": "ann"},
    "user.lock": {"user": "ann"},
    "user.unlock": {"user": "ann"},
    "user.expire_password": {"user": "ann"},
    "user.reset_mfa": {"user": "ann"},
    "user.set_manager": {"user": "ann", "manager": "bob"},
    "user.remove_from_all_groups": {"user": "ann"},
    "user_group.create": {"name": "New"},
    "user_group.members": {"group": "Sales"},
    "device_group.add_device": {"device": "pc-7", "device_group": "Laptops"},
    "device_group.remove_device": {"device": "lin-042", "device_group": "Laptops"},
    "policy.bind": {"policy": "Encrypt", "device": "pc-7"},
    "policy.unbind": {"policy": "Encrypt", "device_group": "Laptops"},
    "user.get": {"user": "ann"},
    "user.find": {"department": "Sales"},
    "device.get": {"device": "lin-042"},
    "device.find": {"os_family": "linux"},
    "device.run_command": {"device": "lin-042", "command": "Uptime"},
    "device.lock": {"device": "lin-042"},
    "device.restart": {"device": "lin-042"},
    "device.erase": {"device": "lin-042"},
}
# Lookups of many objects filter to what the role may see instead of refusing: (action, permission).
FILTERED = {
    ("user.find", "directory.view_user"),
    ("user_group.members", "directory.view_user"),
    ("device.find", "directory.view_device"),
}
# Other branches add actions in modules of their own; these are the areas this table covers.
AREAS = {"users", "groups", "policies", "lookups", "commands"}

CASES = [
    (action.key, perm)
    for action in all_actions()
    if action.__module__.rsplit(".", 1)[-1] in AREAS
    for perm in action.permissions
]


def test_every_action_of_these_areas_has_params_and_permissions():
    keys = {a.key for a in all_actions() if a.__module__.rsplit(".", 1)[-1] in AREAS}
    assert keys == set(PARAMS)
    assert all(a.permissions for a in all_actions() if a.key in keys)


def _definition(key: str) -> dict[str, Any]:
    return {"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"step": {"call": key, "with": PARAMS[key]}}]}


def _directory_codes() -> set[str]:
    return {code for code in role_codes(AdminRole.objects.get(key="administrator")) if code.startswith("directory.")}


def _role_without(perm: str, administrator: Any) -> AdminRole:
    role = role_create(name=f"No {perm}", based_on=None, actor=administrator)
    role_set_permissions(role=role, actor=administrator, permissions=_directory_codes() - {perm})
    return role


@pytest.mark.parametrize(("key", "perm"), CASES)
def test_saving_is_refused_for_a_role_without_the_permission(world, administrator, key, perm):
    role = _role_without(perm, administrator)
    with pytest.raises(WorkflowInvalid) as caught:
        workflow_create(name="w", definition=_definition(key), run_as=role, actor=administrator)
    assert f"run-as role {role.name} lacks permission {perm} needed by {key}" in [
        p.message for p in caught.value.problems
    ]


def _decoy(perm: str, administrator: Any) -> Any:
    """An object of the permission's model other than those the params name."""
    model = Permission.objects.get(
        content_type__app_label="directory", codename=perm.split(".", 1)[1]
    ).content_type.model_class()
    make = {
        "user": lambda: ds.user_create(actor=administrator, username="decoy", email="decoy@example.com"),
        "usergroup": lambda: ds.group_create(actor=administrator, name="Decoys"),
        "device": lambda: ds.device_create(actor=administrator, hostname="decoy-host", os_family="linux"),
        "devicegroup": lambda: ds.device_group_create(actor=administrator, name="Decoy devices"),
        "policy": lambda: ds.policy_create(actor=administrator, name="Decoy policy", type="custom"),
        "command": lambda: ds.command_create(actor=administrator, name="Decoy", script="true"),
    }
    return make[model._meta.model_name]()


def _state() -> tuple[int, int, int]:
    return DirectoryEvent.objects.count(), CommandRun.objects.count(), Command.objects.count()


@pytest.mark.parametrize(("key", "perm"), CASES)
def test_running_is_refused_on_an_object_outside_the_roles_reach(world, administrator, call, key, perm):
    role = _role_without(perm, administrator)
    decoy = _decoy(perm, administrator)
    assign_perm(perm, role.group, decoy)  # held on the decoy only: saving is allowed
    before = _state()

    ran = call(key, PARAMS[key], role=role)

    if (key, perm) in FILTERED:
        assert ran.status == "succeeded", ran.error  # only the decoy is visible, and only it may match
        expected = [decoy.hostname] if key == "device.find" else []
        assert [item.get("username") or item.get("hostname") for item in ran.output["items"]] == expected
        return
    assert ran.status == "failed"
    assert ran.error.startswith(f"run-as role {role.name} may not "), ran.error
    assert _state() == before, "a refused step changed the directory"
    world["ann"].refresh_from_db()
    assert (world["ann"].state, world["ann"].account_locked, world["ann"].job_title) == ("staged", False, "")
