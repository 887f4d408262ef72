"""Writes to admin roles: keeping the built-in ones in sync and creating custom ones.

Each role owns a non-login service principal (an auth user in the role's group, with an
unusable password and no staff access) that workflows running as the role act as, so their
permission checks go through the same backends (model permissions and guardian object
permissions) as a person holding the role.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify

from directory.actors import ActorLike
from directory.models import AdminRole
from directory.roles import BUILTIN_ROLES

PRINCIPAL_PREFIX = "runas-"


def permissions_for(codes: Iterable[str]) -> list[Permission]:
    """Permission rows for ``app_label.codename`` strings (missing ones are skipped)."""
    query = Q()
    for code in codes:
        app_label, codename = code.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query)) if query else []


def _ensure_principal(role: AdminRole) -> None:
    User = get_user_model()
    if role.principal_id is None:
        principal, _ = User.objects.get_or_create(
            username=f"{PRINCIPAL_PREFIX}{role.key}"[:150],
            defaults={
                "is_active": True,
                "is_staff": False,
                "first_name": "Run as",
                "last_name": role.group.name,
            },
        )
        principal.set_unusable_password()
        principal.save()
        role.principal = principal
        role.save(update_fields=["principal"])
    role.principal.groups.set([role.group])


@transaction.atomic
def roles_sync_builtin() -> list[AdminRole]:
    """Create missing built-in roles and set their permissions to exactly the table's."""
    roles = []
    for spec in BUILTIN_ROLES:
        group, _ = Group.objects.get_or_create(name=spec.name)
        role, _ = AdminRole.objects.get_or_create(
            key=spec.key, defaults={"group": group, "description": spec.description, "is_builtin": True}
        )
        if role.description != spec.description or not role.is_builtin:
            role.description, role.is_builtin = spec.description, True
            role.save(update_fields=["description", "is_builtin"])
        group.permissions.set(permissions_for(spec.permissions))
        _ensure_principal(role)
        roles.append(role)
    return roles


@transaction.atomic
def role_create(*, name: str, based_on: AdminRole | None, actor: ActorLike, description: str = "") -> AdminRole:
    """Create a custom role, starting from a built-in role's permissions when ``based_on`` is given."""
    if Group.objects.filter(name=name).exists():
        raise ValidationError({"name": "A role with this name already exists."})
    key = slugify(name)[:64]
    if not key or AdminRole.objects.filter(key=key).exists():
        raise ValidationError({"name": "Choose a name that gives a new, non-empty key."})
    group = Group.objects.create(name=name)
    if based_on is not None:
        group.permissions.set(based_on.group.permissions.all())
    role = AdminRole.objects.create(group=group, key=key, description=description, is_builtin=False, based_on=based_on)
    _ensure_principal(role)
    return role


def admin_set_role(*, admin: object, role: AdminRole, actor: ActorLike) -> None:
    """Make ``role`` the one role of an admin account."""
    admin.groups.set([role.group])  # type: ignore[attr-defined]
