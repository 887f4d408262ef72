"""Who may manage, run and view workflows — one answer for the admin, the API and the pages.

Managing (create, edit, enable, disable, delete, import), running workflows and cancelling
executions is reserved to admins whose role is Administrator or Administrator with Billing,
and to superusers, as in JumpCloud. Holding the model permission is required too, so a
built-in role's table stays the single source of what each role grants; a custom role that
copied those permissions still does not manage workflows. Viewing follows the view
permissions (Read Only and Manager have them). The builder pages follow the same rules:
editors see edit controls, viewers see read-only pages, everyone else a 403 (``builder_mode``).
"""

from __future__ import annotations

from typing import Any

from directory.permission_reads import holds_role
from directory.roles import WORKFLOW_MANAGER_ROLES


def holds_manager_role(user: Any) -> bool:
    """True for superusers and members of the Administrator roles."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return holds_role(user.pk, WORKFLOW_MANAGER_ROLES)


def can_manage_workflows(user: Any, perm: str = "workflows.change_workflow") -> bool:
    """May ``user`` create/edit/enable/delete/import workflows (``perm`` names which)?"""
    return holds_manager_role(user) and user.has_perm(perm)


def can_run_workflows(user: Any) -> bool:
    return holds_manager_role(user) and user.has_perm("workflows.run_workflow")


def can_cancel_executions(user: Any) -> bool:
    return holds_manager_role(user) and user.has_perm("executions.cancel_execution")


def can_view_workflows(user: Any) -> bool:
    return (
        bool(getattr(user, "is_authenticated", False)) and user.is_active and user.has_perm("workflows.view_workflow")
    )


def can_view_executions(user: Any) -> bool:
    return (
        bool(getattr(user, "is_authenticated", False)) and user.is_active and user.has_perm("executions.view_execution")
    )


def builder_mode(user: Any) -> str | None:
    """How the builder pages treat ``user``: ``"edit"`` (Administrator roles), ``"view"`` (roles
    that may view workflows: Read Only, Manager) or None (a 403)."""
    if can_manage_workflows(user, "workflows.change_workflow"):
        return "edit"
    if can_view_workflows(user):
        return "view"
    return None
