"""Built-in admin roles: their permissions, principals, and custom roles based on them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from directory import role_services
from directory.models import AdminRole, UserGroup
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
from tests.directory.helpers import events_after, last_event_id

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


# --- custom roles' life, each change in the event log with its actor ------------------------


def test_copy_gets_its_own_principal_and_a_created_event(billing_admin):
    mark = last_event_id()
    role = role_services.role_create(name="Sales Help Desk", based_on=_role(HELP_DESK), actor=billing_admin)
    assert role.principal.pk != _role(HELP_DESK).principal.pk
    assert _role(HELP_DESK).principal.groups.get() == _role(HELP_DESK).group  # the original is untouched
    [event] = events_after(mark)
    assert (event.type, event.resource_type, event.resource_name) == (
        "admin_role.created",
        "admin_role",
        "Sales Help Desk",
    )
    assert (event.actor_type, event.actor_name) == ("admin", billing_admin.username)
    assert event.snapshot["based_on"] == "Help Desk"
    assert set(event.snapshot["permissions"]) == _codes(_role(HELP_DESK).group)


def test_a_person_holding_the_principal_name_is_never_taken_over(make_admin, billing_admin):
    person = make_admin("runas-sales")  # an account created before names were reserved
    with pytest.raises(ValidationError) as caught:
        role_services.role_create(name="Sales", based_on=None, actor=billing_admin)
    assert "runas-sales is taken" in caught.value.message_dict["name"][0]
    person.refresh_from_db()
    assert person.has_usable_password() and list(person.groups.all()) == []
    assert not AdminRole.objects.filter(key="sales").exists()


def test_deleting_a_role_deletes_its_group_and_principal_and_frees_the_name(billing_admin, make_admin):
    role = role_services.role_create(name="Temp", based_on=_role(READ_ONLY), actor=billing_admin)
    holder = make_admin("admin-tmp", role.key)
    principal_pk, group_pk = role.principal.pk, role.group.pk
    mark = last_event_id()

    role_services.role_delete(role=role, actor=billing_admin)

    assert not get_user_model().objects.filter(pk=principal_pk).exists()
    assert not Group.objects.filter(pk=group_pk).exists()
    assert list(holder.groups.all()) == []
    assert [(e.type, e.resource_name) for e in events_after(mark)] == [
        ("admin_role.deleted", "Temp"),
        ("admin_account.role_changed", "admin-tmp"),
    ]
    again = role_services.role_create(name="Temp", based_on=None, actor=billing_admin)
    assert again.principal.pk != principal_pk


def test_a_role_workflows_run_as_cannot_be_deleted(billing_admin):
    from workflows.services import workflow_create

    role = role_services.role_create(name="Runner", based_on=_role(READ_ONLY), actor=billing_admin)
    workflow_create(
        name="noop",
        definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": []},
        run_as=role,
        actor=billing_admin,
    )
    with pytest.raises(ValidationError, match="Workflows run as Runner: noop"):
        role_services.role_delete(role=role, actor=billing_admin)
    assert AdminRole.objects.filter(pk=role.pk).exists()


def test_set_permissions_writes_one_event_per_grant_and_revoke(billing_admin):
    role = role_services.role_create(name="Desk", based_on=_role(HELP_DESK), actor=billing_admin)
    wanted = (_codes(role.group) - {"directory.add_user"}) | {"directory.change_user_state"}
    mark = last_event_id()

    role_services.role_set_permissions(role=role, actor=billing_admin, permissions=wanted)

    assert _codes(role.group) == wanted
    found = [
        (e.type, e.changes[0]["from"], e.changes[0]["to"], e.related_type, e.actor_name) for e in events_after(mark)
    ]
    assert found == [
        ("admin_role.permission_granted", None, "directory.change_user_state", "permission", billing_admin.username),
        ("admin_role.permission_revoked", "directory.add_user", None, "permission", billing_admin.username),
    ]
    mark = last_event_id()
    role_services.role_set_permissions(role=role, actor=billing_admin, permissions=wanted)  # no change, no event
    assert events_after(mark) == []


def test_unknown_permissions_are_refused(billing_admin):
    role = role_services.role_create(name="Desk", based_on=None, actor=billing_admin)
    with pytest.raises(ValidationError, match=r"Unknown permissions: directory\.fly_user"):
        role_services.role_set_permissions(role=role, actor=billing_admin, permissions={"directory.fly_user"})


@pytest.mark.parametrize(
    "change",
    [
        lambda role, actor: role_services.role_set_permissions(role=role, actor=actor, permissions=set()),
        lambda role, actor: role_services.role_update(role=role, actor=actor, name="Renamed"),
        lambda role, actor: role_services.role_delete(role=role, actor=actor),
        lambda role, actor: role_services.role_scope_add(
            role=role, actor=actor, permission="directory.change_user", user_group=UserGroup.objects.create(name="S")
        ),
    ],
    ids=["permissions", "rename", "delete", "scope"],
)
def test_builtin_roles_are_refused_by_every_service(billing_admin, change):
    role = _role(HELP_DESK)
    before = _codes(role.group)
    mark = last_event_id()
    with pytest.raises(ValidationError, match="Built-in roles are read-only"):
        change(role, billing_admin)
    role = _role(HELP_DESK)
    assert (role.name, _codes(role.group)) == ("Help Desk", before)
    assert [e.type for e in events_after(mark) if e.resource_type == "admin_role"] == []


def test_an_admin_cannot_grant_what_they_do_not_hold(make_admin, billing_admin):
    """Whoever may edit roles could otherwise give themselves everything."""
    editors = role_services.role_create(name="Role editors", based_on=None, actor=billing_admin)
    role_services.role_set_permissions(
        role=editors, actor=billing_admin, permissions={"directory.view_adminrole", "directory.change_adminrole"}
    )
    editor = make_admin("admin-ed", editors.key)
    with pytest.raises(ValidationError) as caught:
        role_services.role_set_permissions(
            role=editors, actor=editor, permissions={"directory.change_adminrole", "directory.delete_user"}
        )
    assert caught.value.message_dict["permissions"] == [
        "You cannot grant permissions you do not hold: directory.delete_user."
    ]
    # Taking away is allowed.
    role_services.role_set_permissions(role=editors, actor=editor, permissions={"directory.change_adminrole"})


def test_rename_renames_the_group_and_the_principal(billing_admin):
    role = role_services.role_create(name="Desk", based_on=None, actor=billing_admin)
    mark = last_event_id()
    role_services.role_update(role=role, actor=billing_admin, name="Front Desk", description="Front")
    role = _role(role.key)
    assert (role.name, role.description, role.principal.last_name) == ("Front Desk", "Front", "Front Desk")
    [event] = events_after(mark)
    assert event.changes == [
        {"field": "name", "from": "Desk", "to": "Front Desk"},
        {"field": "description", "from": "", "to": "Front"},
    ]
    with pytest.raises(ValidationError):
        role_services.role_update(role=role, actor=billing_admin, name="help desk")


def test_scopes_are_added_and_removed_with_events(billing_admin):
    from directory.scopes import role_scopes

    sales = UserGroup.objects.create(name="Sales")
    role = role_services.role_create(name="Sales desk", based_on=None, actor=billing_admin)
    mark = last_event_id()

    assert role_services.role_scope_add(
        role=role, actor=billing_admin, permission="directory.change_user_state", user_group=sales
    )
    assert role_services.role_scope_add(
        role=role, actor=billing_admin, permission="directory.change_usergroup", user_group=sales
    )
    assert not role_services.role_scope_add(  # already there: nothing to do, nothing logged
        role=role, actor=billing_admin, permission="directory.change_user_state", user_group=sales
    )

    scopes = role_scopes(role)
    assert [s.label for s in scopes] == [
        "Users: change state (activate and suspend) — users in group Sales",
        "User groups: change — group Sales",
    ]
    assert role_services.role_codes(role) == set()  # nothing everywhere
    added = events_after(mark)
    assert [(e.type, e.related_name, e.changes[0]["to"]) for e in added] == [
        (
            "admin_role.scope_added",
            "Sales",
            {"permission": "directory.change_user_state", "applies_to": "users in group Sales"},
        ),
        ("admin_role.scope_added", "Sales", {"permission": "directory.change_usergroup", "applies_to": "group Sales"}),
    ]
    mark = last_event_id()
    for scope in scopes:
        role_services.role_scope_remove(role=role, actor=billing_admin, scope=scope)
    assert role_scopes(role) == []
    assert [e.type for e in events_after(mark)] == ["admin_role.scope_removed"] * 2
    with pytest.raises(ValidationError, match="cannot be limited to user groups"):
        role_services.role_scope_add(role=role, actor=billing_admin, permission="directory.add_user", user_group=sales)


def test_admin_set_role_logs_the_change_once(make_admin, billing_admin):
    admin = make_admin("admin-new", HELP_DESK)
    mark = last_event_id()
    role_services.admin_set_role(admin=admin, role=_role(MANAGER), actor=billing_admin)
    role_services.admin_set_role(admin=admin, role=_role(MANAGER), actor=billing_admin)  # unchanged
    role_services.admin_set_role(admin=admin, role=None, actor=billing_admin)
    assert [e.changes for e in events_after(mark)] == [
        [{"field": "role", "from": "Help Desk", "to": "Manager"}],
        [{"field": "role", "from": "Manager", "to": None}],
    ]
    assert list(admin.groups.all()) == []


def test_handing_out_a_role_counts_its_scopes(make_admin, billing_admin, help_desk_admin):
    scoped = role_services.role_create(name="Scoped", based_on=None, actor=billing_admin)
    role_services.role_scope_add(
        role=scoped,
        actor=billing_admin,
        permission="directory.change_user_state",
        user_group=UserGroup.objects.create(name="Sales"),
    )
    target = make_admin("admin-new", None)
    with pytest.raises(ValidationError) as caught:  # Help Desk may not suspend anyone, so may not hand it out
        role_services.admin_set_role(admin=target, role=scoped, actor=help_desk_admin)
    assert "directory.change_user_state" in caught.value.message_dict["role"][0]
    role_services.admin_set_role(admin=target, role=scoped, actor=billing_admin)
    assert list(target.groups.all()) == [scoped.group]
