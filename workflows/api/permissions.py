"""Who may do what to workflows over the API: the same answer as the admin and the pages.

Managing, running and cancelling need an Administrator role (or a superuser) *and* the model
permission (``workflows.access``), so a custom role that copied an Administrator's
permissions still cannot change workflows — in the API exactly as in the admin. Every other
permission (viewing) is a plain model permission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflows.access import can_cancel_executions, can_manage_workflows, can_run_workflows

_MANAGE = ("workflows.add_workflow", "workflows.change_workflow", "workflows.delete_workflow")

_GATES: dict[str, Callable[[Any], bool]] = {
    **{perm: (lambda user, perm=perm: can_manage_workflows(user, perm)) for perm in _MANAGE},
    "workflows.run_workflow": can_run_workflows,
    "executions.cancel_execution": can_cancel_executions,
}


def workflow_user_may(user: Any, perm: str) -> bool:
    """``user.has_perm(perm)``, with the Administrator-role rule for managing, running and cancelling."""
    gate = _GATES.get(perm)
    return gate(user) if gate is not None else user.has_perm(perm)


class WorkflowPermissionsMixin:
    """For viewsets of workflows and executions: check permissions through ``workflow_user_may``."""

    def user_may(self, user: Any, perm: str) -> bool:
        return workflow_user_may(user, perm)
