"""The permission reads every API request makes, each one statement written out once.

An admin's model permissions (their own and their groups'), whether they hold an Administrator
role, and what a run-as role may do are read fresh on every request that checks them — nothing
here is cached beyond the request's user object, as Django's ``ModelBackend`` does — but through
the ORM each read was several joins compiled anew each time: together ~40 % of a run request's
CPU. The statements are built once per process from the models' tables and columns and return
exactly what the ORM queries they replace returned (``tests/directory/test_permission_reads.py``
holds them equal).
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Model

from config.sql_names import column, table
from directory.models import AdminRole


def _through(model: type[Model], m2m: str, this: str, other: str) -> tuple[str, str, str]:
    """A many-to-many field's table and its two columns: (table, ``this`` side, ``other`` side)."""
    through = model._meta.get_field(m2m).remote_field.through
    return table(through), column(through, this), column(through, other)


class _Statements:
    def __init__(self) -> None:
        from django.contrib.auth import get_user_model
        from guardian.models import GroupObjectPermission

        user = get_user_model()
        permission, content_type = table(Permission), table(ContentType)
        labelled = (
            f"SELECT ct.{column(ContentType, 'app_label')}, p.{column(Permission, 'codename')} "
            f"FROM {permission} p JOIN {content_type} ct ON ct.{column(ContentType, 'id')} = "
            f"p.{column(Permission, 'content_type')} WHERE p.{column(Permission, 'id')} IN "
        )
        user_field = user._meta.model_name
        user_perms, user_side, user_perm = _through(user, "user_permissions", user_field, "permission")
        user_groups, member, member_group = _through(user, "groups", user_field, "group")
        group_perms, group_side, group_perm = _through(Group, "permissions", "group", "permission")
        object_perms = table(GroupObjectPermission)
        self.user_permissions = (
            f"{labelled}(SELECT {user_perm} FROM {user_perms} WHERE {user_side} = %s "
            f"UNION SELECT gp.{group_perm} FROM {group_perms} gp JOIN {user_groups} ug "
            f"ON ug.{member_group} = gp.{group_side} WHERE ug.{member} = %s)"
        )
        self.role_permissions = (
            f"{labelled}(SELECT {group_perm} FROM {group_perms} WHERE {group_side} = %s "
            f"UNION SELECT {column(GroupObjectPermission, 'permission')} FROM {object_perms} "
            f"WHERE {column(GroupObjectPermission, 'group')} = %s)"
        )
        self.holds_role = (
            f"SELECT 1 FROM {table(AdminRole)} r JOIN {user_groups} ug ON ug.{member_group} = "
            f"r.{column(AdminRole, 'group')} WHERE ug.{member} = %s AND r.{column(AdminRole, 'key')} IN "
        )


_statements = cache(_Statements)


def _codes(sql: str, params: list[object]) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}


def user_permissions(user_id: int) -> set[str]:
    """The model permissions a user holds directly or through their groups, as ``app_label.codename``."""
    return _codes(_statements().user_permissions, [user_id, user_id])


def group_permissions(group_id: int) -> set[str]:
    """A group's model permissions and the permissions it holds on some objects (guardian)."""
    return _codes(_statements().role_permissions, [group_id, group_id])


def holds_role(user_id: int, keys: tuple[str, ...]) -> bool:
    """Is the user a member of an admin role with one of these keys?"""
    if not keys:
        return False
    placeholders = ", ".join(["%s"] * len(keys))
    with connection.cursor() as cursor:
        cursor.execute(f"{_statements().holds_role}({placeholders}) LIMIT 1", [user_id, *keys])
        return cursor.fetchone() is not None
