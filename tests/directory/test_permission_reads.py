"""The permission reads written out once answer exactly what Django's ORM and ModelBackend answer."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from guardian.models import GroupObjectPermission
from guardian.shortcuts import assign_perm

from directory import permission_reads
from directory.auth_backends import ModelPermissionBackend
from directory.models import AdminRole, UserGroup
from directory.roles import ADMINISTRATOR, HELP_DESK, READ_ONLY, WORKFLOW_MANAGER_ROLES
from workflows.access import holds_manager_role
from workflows.run_as import role_permissions

pytestmark = pytest.mark.django_db


def _perm(code: str) -> Permission:
    app_label, codename = code.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _fresh(user):
    """The account read again: both backends cache on the user object."""
    return get_user_model().objects.get(pk=user.pk)


def _orm_role_permissions(group: Group) -> set[str]:
    model_level = group.permissions.values_list("content_type__app_label", "codename")
    object_level = GroupObjectPermission.objects.filter(group=group).values_list(
        "permission__content_type__app_label", "permission__codename"
    )
    return {f"{app}.{code}" for app, code in [*model_level, *object_level]}


@pytest.fixture
def mixed(make_admin):
    """A Help Desk admin with a direct permission of their own, also in an extra group that shares
    one permission with Help Desk and adds another."""
    user = make_admin("mixed-max", HELP_DESK)
    user.user_permissions.add(_perm("workflows.view_workflow"), _perm("directory.view_user"))
    extra = Group.objects.create(name="extra")
    extra.permissions.add(_perm("directory.view_user"), _perm("directory.delete_device"))
    user.groups.add(extra)
    return user


def test_a_users_permissions_are_djangos_own_and_theirs_together(mixed, make_admin):
    for user in (mixed, make_admin("plain-pat", READ_ONLY), make_admin("nobody-ned")):
        ours = ModelPermissionBackend().get_all_permissions(_fresh(user))
        assert ours == ModelBackend().get_all_permissions(_fresh(user))
    assert {"workflows.view_workflow", "directory.delete_device"} <= ModelPermissionBackend().get_all_permissions(
        _fresh(mixed)
    )


def test_inactive_superuser_and_per_object_answers_are_djangos(mixed, make_admin):
    inactive = _fresh(mixed)
    inactive.is_active = False
    superuser = get_user_model().objects.create_superuser("root-rita", password="pw-Keyflow-123")
    for user, obj in ((inactive, None), (_fresh(superuser), None), (_fresh(mixed), UserGroup(name="x"))):
        assert ModelPermissionBackend().get_all_permissions(user, obj) == ModelBackend().get_all_permissions(user, obj)
    assert ModelPermissionBackend().get_all_permissions(_fresh(superuser)) == {
        f"{app}.{code}" for app, code in Permission.objects.values_list("content_type__app_label", "codename")
    }


def test_a_user_reads_their_permissions_once_per_request_in_one_statement(mixed):
    user = _fresh(mixed)
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm("directory.delete_device")
        assert user.has_perm("workflows.view_workflow")
        assert not user.has_perm("directory.delete_user")
    assert len(queries) == 1


def test_the_setting_uses_the_one_statement_backend(mixed):
    from django.contrib.auth import get_backends

    assert isinstance(get_backends()[0], ModelPermissionBackend)


def test_a_roles_permissions_include_what_it_holds_on_some_objects(make_admin):
    role = AdminRole.objects.get(key=HELP_DESK)
    group = Group.objects.create(name="scoped-role")
    group.permissions.add(_perm("directory.view_user"), _perm("directory.view_usergroup"))
    sales = UserGroup.objects.create(name="Sales")
    assign_perm("directory.change_usergroup", group, sales)
    assign_perm("directory.view_usergroup", group, sales)  # also model-level: counted once

    assert permission_reads.group_permissions(group.pk) == _orm_role_permissions(group)
    assert "directory.change_usergroup" in permission_reads.group_permissions(group.pk)
    assert role_permissions(role) == _orm_role_permissions(role.group)
    assert permission_reads.group_permissions(Group.objects.create(name="empty").pk) == set()


def test_holding_a_role_is_read_by_key(make_admin, administrator):
    help_desk = make_admin("help-hal", HELP_DESK)

    assert permission_reads.holds_role(administrator.pk, WORKFLOW_MANAGER_ROLES)
    assert not permission_reads.holds_role(help_desk.pk, WORKFLOW_MANAGER_ROLES)
    assert permission_reads.holds_role(help_desk.pk, (HELP_DESK,))
    assert not permission_reads.holds_role(administrator.pk, ())
    assert holds_manager_role(administrator) and not holds_manager_role(help_desk)
    assert AdminRole.objects.filter(key=ADMINISTRATOR, group__user=administrator).exists()
