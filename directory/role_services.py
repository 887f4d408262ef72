"""Writes to admin roles: keeping the built-in ones in sync, and custom roles' whole life.

Each role owns a non-login service principal (an auth user in the role's group, with an
unusable password and no staff access) that workflows running as the role act as, so their
permission checks go through the same backends (model permissions and guardian object
permissions) as a person holding the role. Every custom role gets its own principal, created
with it and deleted with it.

Built-in roles follow ``directory.roles`` and are read-only: every service here that changes a
role refuses a built-in one. Each change is written to the event log with its actor — who gave
which role which permission. An admin may not grant permissions they do not hold themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.text import slugify
from guardian.shortcuts import assign_perm, remove_perm

from directory.actors import ActorLike, acting_as
from directory.choices import ResourceType
from directory.event_log import PendingEvent, record_events
from directory.models import AdminRole, RoleMemberScope, UserGroup
from directory.roles import BUILTIN_ROLES
from directory.scopes import MEMBERS, SCOPE_OPTIONS_BY_CODE, Scope, permission_for, scoped_permissions

__all__ = [
    "BUILTIN_READ_ONLY",
    "PRINCIPAL_PREFIX",
    "admin_set_role",
    "permissions_for",
    "refuse_beyond_actor",
    "role_codes",
    "role_create",
    "role_delete",
    "role_grants",
    "role_key_for",
    "role_scope_add",
    "role_scope_remove",
    "role_set_permissions",
    "role_update",
    "roles_sync_builtin",
]

PRINCIPAL_PREFIX = "runas-"
BUILTIN_READ_ONLY = "Built-in roles are read-only: copy it to a custom role to change it."
_ROLE = ResourceType.ADMIN_ROLE


def permissions_for(codes: Iterable[str]) -> list[Permission]:
    """Permission rows for ``app_label.codename`` strings (missing ones are skipped)."""
    query = Q()
    for code in codes:
        app_label, codename = code.split(".", 1)
        query |= Q(content_type__app_label=app_label, codename=codename)
    return list(Permission.objects.filter(query).select_related("content_type")) if query else []


def _code(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def role_codes(role: AdminRole) -> set[str]:
    """The role's model permissions as ``app_label.codename`` (one query)."""
    rows = role.group.permissions.values_list("content_type__app_label", "codename")
    return {f"{app}.{code}" for app, code in rows}


def role_grants(role: AdminRole) -> set[str]:
    """Everything the role may do somewhere: model permissions, member scopes and guardian object
    permissions (what an admin must hold themselves to hand the role out)."""
    from guardian.models import GroupObjectPermission

    object_level = GroupObjectPermission.objects.filter(group_id=role.group_id).values_list(
        "permission__content_type__app_label", "permission__codename"
    )
    return role_codes(role) | scoped_permissions(role) | {f"{app}.{code}" for app, code in object_level}


def _principal_name(role: AdminRole) -> str:
    return f"{PRINCIPAL_PREFIX}{role.key}"[:150]


def _ensure_principal(role: AdminRole) -> None:
    """Give a built-in role its principal (found again by name on every sync)."""
    User = get_user_model()
    if role.principal_id is None:
        principal, _ = User.objects.get_or_create(
            username=_principal_name(role),
            defaults={"is_active": True, "is_staff": False, "first_name": "Run as", "last_name": role.group.name},
        )
        principal.set_unusable_password()
        principal.save()
        role.principal = principal
        role.save(update_fields=["principal"])
    role.principal.groups.set([role.group])


def _create_principal(role: AdminRole) -> None:
    """A new custom role's own principal: never an existing account, whoever holds the name."""
    User = get_user_model()
    if User.objects.filter(username__iexact=_principal_name(role)).exists():
        raise ValidationError(
            {"name": f"The run-as account name {_principal_name(role)} is taken; choose another name."}
        )
    principal = User(
        username=_principal_name(role), is_active=True, is_staff=False, first_name="Run as", last_name=role.group.name
    )
    principal.set_unusable_password()
    principal.save()
    principal.groups.set([role.group])
    role.principal = principal
    role.save(update_fields=["principal"])


def _refuse_builtin(role: AdminRole) -> None:
    if role.is_builtin:
        raise ValidationError(BUILTIN_READ_ONLY)


def refuse_beyond_actor(codes: set[str], actor: ActorLike, field: str) -> None:
    """An admin may not give a role (or an account) what they may not do themselves; otherwise
    whoever may edit roles could grant themselves everything. Superusers and the system may."""
    if not hasattr(actor, "get_all_permissions") or getattr(actor, "is_superuser", False):
        return
    beyond = sorted(codes - actor.get_all_permissions())
    if beyond:
        shown = ", ".join(beyond[:5]) + (f" and {len(beyond) - 5} more" if len(beyond) > 5 else "")
        raise ValidationError({field: f"You cannot grant permissions you do not hold: {shown}."})


def _role_snapshot(role: AdminRole, codes: Iterable[str]) -> dict[str, Any]:
    return {
        "name": role.name,
        "key": role.key,
        "description": role.description,
        "based_on": role.based_on.name if role.based_on_id else None,
        "permissions": sorted(codes),
    }


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


def role_key_for(name: str) -> str:
    """The key a new role named ``name`` would get; ``ValidationError`` (on ``name``) when the
    name, the key or the key's run-as account name is taken or empty."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "This field is required."})
    if Group.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "A role with this name already exists."})
    key = slugify(name)[:64]
    if not key or AdminRole.objects.filter(key=key).exists():
        raise ValidationError({"name": "Choose a name that gives a new, non-empty key."})
    principal_name = f"{PRINCIPAL_PREFIX}{key}"[:150]
    if get_user_model().objects.filter(username__iexact=principal_name).exists():
        raise ValidationError({"name": f"The run-as account name {principal_name} is taken; choose another name."})
    return key


@transaction.atomic
def role_create(*, name: str, based_on: AdminRole | None, actor: ActorLike, description: str = "") -> AdminRole:
    """Create a custom role — a copy of ``based_on``'s permissions when given — with its own principal."""
    name = name.strip()
    key = role_key_for(name)
    copied = list(based_on.group.permissions.select_related("content_type")) if based_on is not None else []
    codes = {_code(p) for p in copied}
    refuse_beyond_actor(codes, actor, "based_on")
    with acting_as(actor):
        group = Group.objects.create(name=name)
        group.permissions.set(copied)
        role = AdminRole.objects.create(
            group=group, key=key, description=description, is_builtin=False, based_on=based_on
        )
        _create_principal(role)
        record_events([PendingEvent("admin_role.created", _ROLE, role, snapshot=_role_snapshot(role, codes))])
    return role


@transaction.atomic
def role_update(
    *, role: AdminRole, actor: ActorLike, name: str | None = None, description: str | None = None
) -> AdminRole:
    """Rename or re-describe a custom role."""
    _refuse_builtin(role)
    changes = []
    if name is not None and name.strip() != role.name:
        name = name.strip()
        if not name:
            raise ValidationError({"name": "This field is required."})
        if Group.objects.filter(name__iexact=name).exclude(pk=role.group_id).exists():
            raise ValidationError({"name": "A role with this name already exists."})
        changes.append({"field": "name", "from": role.name, "to": name})
        role.group.name = name
        role.group.save(update_fields=["name"])
        if role.principal_id:
            role.principal.last_name = name
            role.principal.save(update_fields=["last_name"])
    if description is not None and description != role.description:
        changes.append({"field": "description", "from": role.description, "to": description})
        role.description = description
        role.save(update_fields=["description"])
    if changes:
        with acting_as(actor):
            record_events([PendingEvent("admin_role.updated", _ROLE, role, changes=changes)])
    return role


@transaction.atomic
def role_set_permissions(*, role: AdminRole, actor: ActorLike, permissions: Iterable[str]) -> AdminRole:
    """Make ``permissions`` (``app_label.codename``) exactly the custom role's model permissions.

    One event per permission granted or revoked. Takes effect for workflows running as the role
    from their next step (permissions are read fresh)."""
    _refuse_builtin(role)
    wanted = set(permissions)
    rows = {_code(p): p for p in permissions_for(wanted)}
    unknown = sorted(wanted - set(rows))
    if unknown:
        raise ValidationError({"permissions": f"Unknown permissions: {', '.join(unknown)}."})
    current = {_code(p): p for p in role.group.permissions.select_related("content_type")}
    granted, revoked = sorted(wanted - set(current)), sorted(set(current) - wanted)
    refuse_beyond_actor(set(granted), actor, "permissions")
    if not granted and not revoked:
        return role
    role.group.permissions.add(*(rows[code] for code in granted))
    role.group.permissions.remove(*(current[code] for code in revoked))
    events = [
        PendingEvent(
            "admin_role.permission_granted",
            _ROLE,
            role,
            related_type="permission",
            related=rows[code],
            changes=[{"field": "permissions", "from": None, "to": code}],
        )
        for code in granted
    ] + [
        PendingEvent(
            "admin_role.permission_revoked",
            _ROLE,
            role,
            related_type="permission",
            related=current[code],
            changes=[{"field": "permissions", "from": code, "to": None}],
        )
        for code in revoked
    ]
    with acting_as(actor):
        record_events(events)
    return role


def _scope_change(code: str, target_label: str) -> dict[str, Any]:
    return {"permission": code, "applies_to": target_label}


@transaction.atomic
def role_scope_add(*, role: AdminRole, actor: ActorLike, permission: str, user_group: UserGroup) -> bool:
    """Give a custom role ``permission`` on the users of ``user_group`` (user permissions) or on
    the group itself (user-group permissions). False if it already had it."""
    _refuse_builtin(role)
    option = SCOPE_OPTIONS_BY_CODE.get(permission)
    if option is None:
        raise ValidationError({"scope_permission": f"{permission} cannot be limited to user groups."})
    refuse_beyond_actor({permission}, actor, "scope_permission")
    perm = permission_for(permission)
    if option.applies_to == MEMBERS:
        _, created = RoleMemberScope.objects.get_or_create(role=role, permission=perm, user_group=user_group)
        target = f"users in group {user_group.name}"
    else:
        created = permission.split(".", 1)[1] not in _guardian_codes(role, user_group)
        if created:
            assign_perm(perm, role.group, user_group)
        target = f"group {user_group.name}"
    if created:
        with acting_as(actor):
            record_events(
                [
                    PendingEvent(
                        "admin_role.scope_added",
                        _ROLE,
                        role,
                        related_type=ResourceType.USER_GROUP,
                        related=user_group,
                        changes=[{"field": "scope", "from": None, "to": _scope_change(permission, target)}],
                    )
                ]
            )
    return created


def _guardian_codes(role: AdminRole, obj: Any) -> set[str]:
    from guardian.shortcuts import get_group_perms

    return set(get_group_perms(role.group, obj).values_list("codename", flat=True))


@transaction.atomic
def role_scope_remove(*, role: AdminRole, actor: ActorLike, scope: Scope) -> None:
    """Take one scope (as listed by ``directory.scopes.role_scopes``) away from a custom role."""
    _refuse_builtin(role)
    if scope.kind == MEMBERS:
        RoleMemberScope.objects.filter(role=role, pk=int(scope.id.removeprefix("members-"))).delete()
    else:
        from guardian.models import GroupObjectPermission

        if scope.target is not None:
            remove_perm(scope.code.split(".", 1)[1], role.group, scope.target)
        else:  # the object is gone; only the row is left
            GroupObjectPermission.objects.filter(group=role.group, pk=int(scope.id.removeprefix("object-"))).delete()
    related = scope.target if isinstance(scope.target, UserGroup) else None
    with acting_as(actor):
        record_events(
            [
                PendingEvent(
                    "admin_role.scope_removed",
                    _ROLE,
                    role,
                    related_type=ResourceType.USER_GROUP if related is not None else "",
                    related=related,
                    changes=[{"field": "scope", "from": _scope_change(scope.code, scope.target_label), "to": None}],
                )
            ]
        )


@transaction.atomic
def role_delete(*, role: AdminRole, actor: ActorLike) -> None:
    """Delete a custom role, its auth group and its principal; its holders are left with no role.

    Refused while workflows run as it (they would have no one to run as)."""
    _refuse_builtin(role)
    running = list(role.workflows.values_list("name", flat=True)[:6])
    if running:
        shown = ", ".join(running[:5]) + (" and more" if len(running) > 5 else "")
        raise ValidationError(f"Workflows run as {role.name}: {shown}. Give them another run-as role first.")
    User = get_user_model()
    holders = list(User.objects.filter(groups=role.group).exclude(pk=role.principal_id))
    events = [PendingEvent("admin_role.deleted", _ROLE, role, snapshot=_role_snapshot(role, role_codes(role)))]
    events += [
        PendingEvent(
            "admin_account.role_changed",
            ResourceType.ADMIN_ACCOUNT,
            holder,
            resource_name=holder.get_username(),
            changes=[{"field": "role", "from": role.name, "to": None}],
        )
        for holder in holders
    ]
    with acting_as(actor):
        record_events(events)
    principal = role.principal
    group = role.group
    role.delete()
    group.delete()
    if principal is not None:
        principal.delete()


def admin_set_role(*, admin: Any, role: AdminRole | None, actor: ActorLike) -> None:
    """Make ``role`` the one role of an admin account (``None``: no role at all)."""
    with transaction.atomic():
        current = AdminRole.objects.select_related("group").filter(group__user=admin).first()
        if current == role and admin.groups.count() == (1 if role else 0):
            return
        if role is not None:
            refuse_beyond_actor(role_grants(role), actor, "role")
        admin.groups.set([role.group] if role is not None else [])
        with acting_as(actor):
            record_events(
                [
                    PendingEvent(
                        "admin_account.role_changed",
                        ResourceType.ADMIN_ACCOUNT,
                        admin,
                        resource_name=admin.get_username(),
                        related_type=ResourceType.ADMIN_ROLE if role is not None else "",
                        related=role,
                        changes=[
                            {
                                "field": "role",
                                "from": current.name if current else None,
                                "to": role.name if role else None,
                            }
                        ],
                    )
                ]
            )
