"""Built-in admin roles: their permissions, principals, and custom roles based on them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from directory import role_services
from directory.models import AdminRole
from directory.roles import (
    ADMINISTRATOR,
    ADMINISTRATOR_WITH_BILLING,
    BUILTIN_ROLES,
    COMMAND_RUNNER,
    COMMAND_RUNNER_USER_MANAGEMENT,
    HELP_DESK,
    MANAGER,
    READ_ONLY,
    WORKFLOW_MANAGER_ROLES,
)

pytestmark = pytest.mark.django_db


def _codes(group: Group) -> set[str]:
    return {f"{app}.{code}" for app, code in group.permissions.values_list("content_type__app_label", "codename")}


def _role(key: str) -> AdminRole:
    return AdminRole.objects.select_related("group", "principal").get(key=key)


@pytest.mark.parametrize("spec", BUILTIN_ROLES, ids=lambda spec: spec.key)
def test_each_builtin_role_has_exactly_its_table_permissions(spec):
    role = _role(spec.key)
    assert role.is_builtin
    assert role.name == spec.name
    assert role.description == spec.description
    assert _codes(role.group) == set(spec.permissions)


def test_every_permission_in_the_table_exists():
    """A typo in ``roles.py`` would otherwise be skipped silently by ``permissions_for``."""
    wanted = set().union(*(spec.permissions for spec in BUILTIN_ROLES))
    found = {f"{p.content_type.app_label}.{p.codename}" for p in role_services.permissions_for(wanted)}
    assert wanted - found == set()


def test_the_seven_jumpcloud_roles_exist():
    assert set(AdminRole.objects.filter(is_builtin=True).values_list("group__name", flat=True)) == {
        "Administrator with Billing",
        "Administrator",
        "Manager",
        "Help Desk",
        "Read Only",
        "Command Runner",
        "Command Runner with User Management",
    }


@pytest.mark.parametrize("spec", BUILTIN_ROLES, ids=lambda spec: spec.key)
def test_each_role_has_a_non_login_principal_in_its_group(spec):
    role = _role(spec.key)
    principal = role.principal
    assert principal is not None
    assert principal.username == f"runas-{spec.key}"
    assert not principal.has_usable_password()
    assert not principal.is_staff and not principal.is_superuser
    assert list(principal.groups.all()) == [role.group]


# --- semantics, checked through Django's permission backends ---------------------------------


def test_help_desk_edits_users_but_cannot_suspend_or_delete(help_desk_admin):
    assert help_desk_admin.has_perm("directory.add_user")
    assert help_desk_admin.has_perm("directory.change_user")
    assert help_desk_admin.has_perm("directory.change_usergroup")
    assert not help_desk_admin.has_perm("directory.change_user_state")
    assert not help_desk_admin.has_perm("directory.delete_user")
    assert not help_desk_admin.has_perm("directory.run_command")


def test_read_only_has_only_view_permissions(read_only_admin):
    codes = _codes(_role(READ_ONLY).group)
    assert codes
    assert all(code.split(".", 1)[1].startswith("view_") for code in codes)
    assert read_only_admin.has_perm("directory.view_user")
    assert read_only_admin.has_perm("executions.view_execution")
    assert not read_only_admin.has_perm("directory.change_user")


def test_only_the_administrator_roles_run_and_manage_workflows():
    for spec in BUILTIN_ROLES:
        principal = _role(spec.key).principal
        may = spec.key in WORKFLOW_MANAGER_ROLES
        assert principal.has_perm("workflows.run_workflow") is may, spec.key
        assert principal.has_perm("workflows.change_workflow") is may, spec.key
        assert principal.has_perm("executions.cancel_execution") is may, spec.key
    assert set(WORKFLOW_MANAGER_ROLES) == {ADMINISTRATOR_WITH_BILLING, ADMINISTRATOR}


def test_only_administrator_with_billing_manages_admin_accounts_roles_and_billing(administrator, billing_admin):
    for perm in ("auth.add_user", "auth.change_group", "directory.add_adminrole", "directory.manage_billing"):
        assert billing_admin.has_perm(perm), perm
        assert not administrator.has_perm(perm), perm
    assert administrator.has_perm("auth.view_user")


def test_manager_manages_the_directory_but_not_channels(manager_admin):
    for perm in ("directory.change_user_state", "directory.delete_user", "directory.bind_policy"):
        assert manager_admin.has_perm(perm), perm
    assert manager_admin.has_perm("directory.view_notificationchannel")
    assert not manager_admin.has_perm("directory.change_notificationchannel")
    assert manager_admin.has_perm("workflows.view_workflow")


def test_command_runners():
    runner = _role(COMMAND_RUNNER).principal
    assert runner.has_perm("directory.run_command") and runner.has_perm("directory.view_device")
    assert not runner.has_perm("directory.view_user")
    assert not runner.has_perm("directory.delete_command")

    with_users = _role(COMMAND_RUNNER_USER_MANAGEMENT).principal
    assert with_users.has_perm("directory.run_command")
    assert with_users.has_perm("directory.change_user_state")
    assert not with_users.has_perm("directory.delete_user")


def test_sync_restores_a_tampered_builtin_role_and_is_idempotent():
    manager = _role(MANAGER)
    manager.group.permissions.clear()
    manager.principal.groups.clear()
    principal_pk = manager.principal.pk

    role_services.roles_sync_builtin()
    role_services.roles_sync_builtin()

    manager = _role(MANAGER)
    spec = next(s for s in BUILTIN_ROLES if s.key == MANAGER)
    assert _codes(manager.group) == set(spec.permissions)
    assert manager.principal.pk == principal_pk
    assert list(manager.principal.groups.all()) == [manager.group]
    assert AdminRole.objects.filter(is_builtin=True).count() == len(BUILTIN_ROLES)
    assert get_user_model().objects.filter(username__startswith="runas-").count() == len(BUILTIN_ROLES)


# --- custom roles ----------------------------------------------------------------------------


def test_custom_role_copies_the_base_role_permissions(billing_admin):
    base = _role(HELP_DESK)

    role = role_services.role_create(
        name="Sales Help Desk", based_on=base, actor=billing_admin, description="Help desk for Sales only"
    )

    assert (role.key, role.is_builtin, role.based_on_id) == ("sales-help-desk", False, base.pk)
    assert role.description == "Help desk for Sales only"
    assert _codes(role.group) == _codes(base.group)
    assert role.principal.username == "runas-sales-help-desk"
    assert not role.principal.has_usable_password()
    assert list(role.principal.groups.all()) == [role.group]
    # A copy, not a link: narrowing the custom role leaves the built-in one alone.
    role.group.permissions.clear()
    assert _codes(_role(HELP_DESK).group)


def test_custom_role_without_a_base_starts_empty(billing_admin):
    role = role_services.role_create(name="Nobody", based_on=None, actor=billing_admin)
    assert _codes(role.group) == set()


@pytest.mark.parametrize("name", ["Manager", "manager!", "   "])
def test_custom_role_name_must_be_new(billing_admin, name):
    with pytest.raises(ValidationError) as caught:
        role_services.role_create(name=name, based_on=_role(READ_ONLY), actor=billing_admin)
    assert "name" in caught.value.message_dict


def test_admin_set_role_makes_it_the_only_role(make_admin, billing_admin):
    admin = make_admin("admin-new", HELP_DESK)
    role_services.admin_set_role(admin=admin, role=_role(MANAGER), actor=billing_admin)
    assert list(admin.groups.values_list("name", flat=True)) == ["Manager"]
    fresh = get_user_model().objects.get(pk=admin.pk)  # permission caches live on the instance
    assert fresh.has_perm("directory.change_user_state")
