"""Least privilege at save time: does the run-as role cover what the workflow does?

Every action declares the model permissions it needs. Saving a workflow compares them with
the run-as role's permissions (listing each uncovered task and permission), names the
narrowest built-in role that would cover the workflow, and warns when an Administrator role
is chosen although a narrower one would do. Object-level checks happen at run time
(``ActionContext.require``), against the object actually touched. The same check runs before a
change to a role is saved, for every workflow running as it (``role_checks``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from directory.models import AdminRole
from directory.permission_reads import group_permissions
from directory.roles import WORKFLOW_MANAGER_ROLES
from directory.scopes import scoped_permissions
from workflows.actions.registry import get_action
from workflows.dsl import Problem, iter_tasks


@dataclass(frozen=True)
class RunAsReport:
    """What saving learns about the run-as role."""

    problems: list[Problem]
    narrowest_role: AdminRole | None
    warnings: list[str]


def required_permissions(definition: dict[str, Any]) -> list[tuple[str, str, set[str]]]:
    """``(path, action key, permissions)`` for every ``call`` task in the definition."""
    needs = []
    for path, _name, task in iter_tasks(definition):
        action = get_action(task.get("call", "")) if "call" in task else None
        if action is not None:
            needs.append((path, action.key, set(action.permissions)))
    return needs


def role_permissions(role: AdminRole) -> set[str]:
    """What the role may do somewhere, as ``app_label.codename`` (read fresh, never cached).

    Model permissions, plus permissions the role holds on some objects through guardian: a
    role scoped to groups Sales and Support may save a workflow that changes group membership,
    and the run-time check on the actual group decides each step.
    """
    # Built-in roles are read-only and so never scoped: no query for them.
    scoped = scoped_permissions(role) if not role.is_builtin else set()
    return group_permissions(role.group_id) | scoped


def uncovered(definition: dict[str, Any], have: set[str]) -> list[tuple[str, str, str]]:
    """``(path, action key, permission)`` for each action's permission missing from ``have``."""
    return [(path, key, perm) for path, key, perms in required_permissions(definition) for perm in sorted(perms - have)]


def _all_needed(definition: dict[str, Any]) -> set[str]:
    return set().union(*(perms for _, _, perms in required_permissions(definition)))


def narrowest_builtin_role(definition: dict[str, Any]) -> AdminRole | None:
    """The built-in role with the fewest permissions that covers every action of the workflow."""
    needed = _all_needed(definition)
    candidates = []
    for role in AdminRole.objects.filter(is_builtin=True).select_related("group"):
        perms = role_permissions(role)
        if needed <= perms:
            # Narrowest: fewest rights to change things, then fewest rights at all.
            writes = sum(1 for perm in perms if ".view_" not in perm)
            candidates.append((writes, len(perms), role.group.name, role))
    return min(candidates, key=lambda c: c[:3])[3] if candidates else None


def check_run_as(definition: dict[str, Any], role: AdminRole) -> RunAsReport:
    """Coverage problems (one per task and missing permission), the narrowest role, and warnings."""
    problems = [
        Problem(f"{path}.call", f"run-as role {role.name} lacks permission {perm} needed by {key}")
        for path, key, perm in uncovered(definition, role_permissions(role))
    ]
    narrowest = narrowest_builtin_role(definition)
    warnings = []
    if (
        role.key in WORKFLOW_MANAGER_ROLES
        and narrowest is not None
        and narrowest.key not in WORKFLOW_MANAGER_ROLES
        and not problems
    ):
        warnings.append(
            f"{role.name} is broader than this workflow needs; {narrowest.name} covers every action it runs."
        )
    return RunAsReport(problems=problems, narrowest_role=narrowest, warnings=warnings)
