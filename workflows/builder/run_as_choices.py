"""The Run-as dialog's list: every role, what it lacks for this workflow, and the one to suggest.

Coverage is the rule of ``workflows.run_as`` (a role covers a workflow when it holds every
permission its actions declare, as model or object permissions); the suggestion is
``narrowest_builtin_role``. Here the permissions of all roles are read in two queries, so the
dialog costs the same however many roles exist.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import Permission
from guardian.models import GroupObjectPermission

from directory.models import AdminRole
from directory.roles import WORKFLOW_MANAGER_ROLES
from workflows.actions.registry import get_action
from workflows.run_as import required_permissions

__all__ = ["Missing", "RoleChoice", "role_choices"]


@dataclass(frozen=True)
class Missing:
    """A permission the role lacks, and the task whose action needs it."""

    task: str
    action: str
    permission: str


@dataclass
class RoleChoice:
    role: AdminRole
    missing: list[Missing] = field(default_factory=list)
    is_administrator: bool = False
    suggested: bool = False

    @property
    def covers(self) -> bool:
        return not self.missing


def _permissions_by_group() -> dict[int, set[str]]:
    perms: dict[int, set[str]] = {}
    model_level = Permission.objects.filter(group__admin_role__isnull=False).values_list(
        "group__id", "content_type__app_label", "codename"
    )
    object_level = GroupObjectPermission.objects.values_list(
        "group_id", "permission__content_type__app_label", "permission__codename"
    ).distinct()
    for group_id, app, code in [*model_level, *object_level]:
        perms.setdefault(group_id, set()).add(f"{app}.{code}")
    return perms


def role_choices(definition: dict[str, Any], suggested: AdminRole | None) -> list[RoleChoice]:
    """Every admin role for the dialog, built-in ones first, each with what it lacks."""
    needs = required_permissions(definition)
    perms = _permissions_by_group()
    choices = []
    for role in AdminRole.objects.select_related("group").order_by("-is_builtin", "group__name"):
        have = perms.get(role.group_id, set())
        missing = [
            Missing(task=path.rpartition(".")[2], action=get_action(key).label, permission=perm)
            for path, key, needed in needs
            for perm in sorted(needed - have)
        ]
        choices.append(
            RoleChoice(
                role=role,
                missing=missing,
                is_administrator=role.key in WORKFLOW_MANAGER_ROLES,
                suggested=suggested is not None and role.pk == suggested.pk,
            )
        )
    return choices
