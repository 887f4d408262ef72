"""Object scopes of admin roles: permissions a role holds on some objects only.

Two kinds, listed together on a role's admin page:

* **member scopes** (``RoleMemberScope``): a permission on the *users of* a user group ("may
  suspend users in Sales"). Resolved through membership when checked, by
  ``member_scope_allows`` — the function the run-time check of run-as principals
  (``workflows.permissions.principal_has_perm``) must consult after model and guardian
  permissions, with the same ``(principal, "app_label.codename", obj)`` arguments.
* **object permissions** (django-guardian): a permission on one object, here the user group
  itself ("may change the membership of Sales"), checked by guardian as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Permission
from guardian.models import GroupObjectPermission

from directory.models import AdminRole, RoleMemberScope, User, UserGroup
from directory.role_matrix import CELLS, cell_label

MEMBERS = "members"  # the permission applies to the users of the group
GROUP = "group"  # the permission applies to the group itself (guardian)


@dataclass(frozen=True)
class ScopeOption:
    """A permission that can be scoped to user groups, and to what in the group it applies."""

    code: str
    applies_to: str

    @property
    def label(self) -> str:
        cell_id = next(cell_id for cell_id, cell in CELLS.items() if cell.codes == (self.code,))
        return cell_label(cell_id)


SCOPE_OPTIONS: tuple[ScopeOption, ...] = (
    ScopeOption("directory.view_user", MEMBERS),
    ScopeOption("directory.change_user", MEMBERS),
    ScopeOption("directory.change_user_state", MEMBERS),
    ScopeOption("directory.delete_user", MEMBERS),
    ScopeOption("directory.view_usergroup", GROUP),
    ScopeOption("directory.change_usergroup", GROUP),
    ScopeOption("directory.delete_usergroup", GROUP),
)
SCOPE_OPTIONS_BY_CODE = {option.code: option for option in SCOPE_OPTIONS}


@dataclass(frozen=True)
class Scope:
    """One scope of a role as listed and removed: ``id`` is ``members-<pk>`` or ``object-<pk>``."""

    id: str
    kind: str
    code: str
    permission_label: str
    target_label: str
    target: Any

    @property
    def label(self) -> str:
        return f"{self.permission_label} — {self.target_label}"


def _code(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def _permission_label(code: str) -> str:
    option = SCOPE_OPTIONS_BY_CODE.get(code)
    return option.label if option else code


def role_scopes(role: AdminRole) -> list[Scope]:
    """Every scope of ``role``, member scopes first."""
    return scopes_for_roles([role]).get(role.pk, [])


def scopes_for_roles(roles: Iterable[AdminRole]) -> dict[int, list[Scope]]:
    """The scopes of each role, by role id (three queries whatever the number of roles and scopes)."""
    roles = list(roles)
    by_group = {role.group_id: role.pk for role in roles}
    found: dict[int, list[Scope]] = {}
    member_scopes = RoleMemberScope.objects.filter(role__in=roles).select_related(
        "permission__content_type", "user_group"
    )
    for scope in member_scopes:
        code = _code(scope.permission)
        found.setdefault(scope.role_id, []).append(
            Scope(
                id=f"members-{scope.pk}",
                kind=MEMBERS,
                code=code,
                permission_label=_permission_label(code),
                target_label=f"users in group {scope.user_group.name}",
                target=scope.user_group,
            )
        )
    rows = (
        GroupObjectPermission.objects.filter(group_id__in=by_group)
        .select_related("permission__content_type", "content_type")
        .prefetch_related("content_object")
        .order_by("content_type_id", "object_pk", "permission__codename")
    )
    for row in rows:
        target = row.content_object
        noun = "group" if isinstance(target, UserGroup) else row.content_type.name
        code = _code(row.permission)
        found.setdefault(by_group[row.group_id], []).append(
            Scope(
                id=f"object-{row.pk}",
                kind=GROUP,
                code=code,
                permission_label=_permission_label(code),
                target_label=f"{noun} {target}" if target is not None else f"{noun} #{row.object_pk} (deleted)",
                target=target,
            )
        )
    return found


def scoped_permissions(role: AdminRole) -> set[str]:
    """The permissions ``role`` holds through member scopes, as ``app_label.codename``.

    Guardian's object permissions are read by the run-as coverage check itself."""
    rows = RoleMemberScope.objects.filter(role=role).values_list(
        "permission__content_type__app_label", "permission__codename"
    )
    return {f"{app}.{code}" for app, code in rows}


def member_scope_allows(principal: Any, perm: str, obj: Any) -> bool:
    """True if a role ``principal`` holds has ``perm`` on the users of a group ``obj`` is in.

    ``principal`` is any auth user (a run-as principal or a person); ``perm`` is
    ``app_label.codename``; ``obj`` a directory ``User`` (anything else: False). One query,
    read fresh, so a membership or scope change applies to the very next check.
    """
    if principal is None or not isinstance(obj, User) or obj.pk is None:
        return False
    app_label, codename = perm.split(".", 1)
    return RoleMemberScope.objects.filter(
        role__group__user=principal,
        permission__content_type__app_label=app_label,
        permission__codename=codename,
        user_group__members=obj,
    ).exists()


def permission_for(code: str) -> Permission:
    """The ``Permission`` row for ``app_label.codename`` (``DoesNotExist`` if there is none)."""
    app_label, codename = code.split(".", 1)
    return Permission.objects.select_related("content_type").get(content_type__app_label=app_label, codename=codename)
