"""The workflows running as an admin role, for the role's admin page (``directory.role_dependents``).

Before a change to a role is saved, each of its workflows is checked with the permissions the
role would have — the same coverage check as saving the workflow (``run_as.uncovered``) — so the
admin sees which would fail at run time, and at which action, and confirms or goes back.
"""

from __future__ import annotations

from django.urls import reverse

from directory.models import AdminRole
from directory.role_dependents import RoleDependent, Shortfall
from workflows.models import Workflow
from workflows.run_as import role_permissions, uncovered


def workflows_running_as(role: AdminRole, permissions: set[str] | None = None) -> list[RoleDependent]:
    """Each workflow whose run-as is ``role``, with the actions ``permissions`` would not cover."""
    have = permissions if permissions is not None else role_permissions(role)
    return [
        RoleDependent(
            kind="workflow",
            name=workflow.name,
            url=reverse("admin:workflows_workflow_change", args=[workflow.pk]),
            enabled=workflow.enabled,
            shortfalls=tuple(Shortfall(path, key, perm) for path, key, perm in uncovered(workflow.definition, have)),
        )
        for workflow in Workflow.objects.filter(run_as=role).select_related("current_version").order_by("name")
    ]
