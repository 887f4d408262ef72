"""Permission checks for run-as principals.

The same permissions as a person holding the role: the role group's model permissions, or
guardian object permissions on the object. Nothing is cached across transactions — a role
change takes effect for the very next step transaction (Django's backends cache permissions on
the user instance, which is why this does not go through ``user.has_perm``). Within one runner
transaction the model-permission answer is memoised (``directory.transaction_memo``): the
grants cannot change under a transaction that holds SQLite's write lock.

The model-permission check runs on every step, so it is one hand-written query (the ORM
spent more time building it than the database did answering it); its table and column names
come from the models' metadata, so swapped or renamed tables still work.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from guardian.core import ObjectPermissionChecker

from directory.rows import fetch_one
from directory.transaction_memo import memoised


@cache
def _model_perm_sql() -> str:
    """A row if the user holds ``app_label.codename`` directly or via a group (params: app, code, user, user)."""
    qn = connection.ops.quote_name
    user_model = get_user_model()
    groups = user_model._meta.get_field("groups")
    direct = user_model._meta.get_field("user_permissions")
    group_perms = Group._meta.get_field("permissions")
    return (
        f"SELECT 1 FROM {qn(Permission._meta.db_table)} p"
        f" INNER JOIN {qn(ContentType._meta.db_table)} ct ON ct.{qn('id')} = p.{qn('content_type_id')}"
        f" WHERE ct.{qn('app_label')} = %s AND p.{qn('codename')} = %s AND ("
        f"EXISTS (SELECT 1 FROM {qn(groups.m2m_db_table())} ug"
        f" INNER JOIN {qn(group_perms.m2m_db_table())} gp"
        f" ON gp.{qn(group_perms.m2m_column_name())} = ug.{qn(groups.m2m_reverse_name())}"
        f" WHERE ug.{qn(groups.m2m_column_name())} = %s AND gp.{qn(group_perms.m2m_reverse_name())} = p.{qn('id')})"
        f" OR EXISTS (SELECT 1 FROM {qn(direct.m2m_db_table())} up"
        f" WHERE up.{qn(direct.m2m_column_name())} = %s AND up.{qn(direct.m2m_reverse_name())} = p.{qn('id')})"
        ") LIMIT 1"
    )


def has_model_perm(principal: Any, perm: str) -> bool:
    """True if the principal holds ``perm`` (``app_label.codename``) directly or through a group."""
    app_label, codename = perm.split(".", 1)

    def read() -> bool:
        return fetch_one(_model_perm_sql(), [app_label, codename, principal.pk, principal.pk]) is not None

    return memoised(("model_perm", principal.pk, perm), read)


def principal_has_perm(principal: Any, perm: str, obj: Any = None) -> bool:
    """True if the principal holds ``perm`` as a model permission, or on ``obj`` through guardian."""
    if principal is None or not principal.is_active:
        return False
    if has_model_perm(principal, perm):
        return True
    if obj is None:
        return False
    _app_label, codename = perm.split(".", 1)
    return ObjectPermissionChecker(principal).has_perm(codename, obj)
