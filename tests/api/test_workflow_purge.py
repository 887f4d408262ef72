"""``POST /api/v1/workflows/{id}/purge/``: a deleted workflow's history removed for good, by an
Administrator role only, and never for a workflow that was not deleted first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from directory.roles import ADMINISTRATOR_WITH_BILLING, MANAGER, READ_ONLY
from executions.models import Execution, StepRun
from executions.tasks import run_execution
from workflows.models import Workflow, WorkflowVersion
from workflows.services import workflow_delete, workflow_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def deleted(manual_workflow: Workflow, administrator: Any, objects: dict[str, Any]) -> Workflow:
    """The fixture workflow with two runs (one finished, with steps), then deleted (archived)."""
    finished = workflow_run(workflow=manual_workflow, input={"user": "ann"}, actor=administrator)
    run_execution(finished.pk, heartbeat=False)
    assert StepRun.objects.filter(execution=finished).exists()
    return workflow_delete(workflow=manual_workflow, actor=administrator)


def _purge(client: APIClient, workflow: Workflow) -> Any:
    return client.post(f"/api/v1/workflows/{workflow.pk}/purge/")


def test_purge_removes_a_deleted_workflow_with_its_history(admin_api: APIClient, deleted: Workflow) -> None:
    response = _purge(admin_api, deleted)
    assert response.status_code == 200, response.content
    assert response.json() == {"workflow": deleted.pk, "name": deleted.name, "executions_purged": 2}
    assert not Workflow.objects.filter(pk=deleted.pk).exists()
    assert not Execution.objects.filter(workflow_id=deleted.pk).exists()
    assert not WorkflowVersion.objects.filter(workflow_id=deleted.pk).exists()
    assert _purge(admin_api, deleted).status_code == 404  # gone: a second purge finds nothing


def test_purging_a_workflow_not_deleted_is_a_409_with_the_reason(admin_api: APIClient, objects: dict) -> None:
    workflow = objects["workflow"]
    response = _purge(admin_api, workflow)
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "not_archived"
    assert "Delete the workflow first" in body["detail"]
    assert Execution.objects.filter(workflow=workflow).count() == 1  # nothing removed


def test_billing_administrator_may_purge(
    deleted: Workflow, make_admin: Callable[..., Any], client_for: Callable[..., APIClient]
) -> None:
    client = client_for(make_admin("billing", ADMINISTRATOR_WITH_BILLING))
    assert _purge(client, deleted).status_code == 200


@pytest.mark.parametrize("role", [READ_ONLY, MANAGER])
def test_roles_that_only_read_history_get_403(
    role: str, deleted: Workflow, make_admin: Callable[..., Any], client_for: Callable[..., APIClient]
) -> None:
    response = _purge(client_for(make_admin(f"reader-{role}", role)), deleted)
    assert response.status_code == 403
    assert set(response.json()) == {"detail", "code"}
    assert Execution.objects.filter(workflow_id=deleted.pk).count() == 2


def test_help_desk_cannot_tell_the_workflow_exists(
    help_desk_admin: Any, deleted: Workflow, client_for: Callable[..., APIClient]
) -> None:
    assert _purge(client_for(help_desk_admin), deleted).status_code == 404
    assert Workflow.objects.filter(pk=deleted.pk).exists()


def test_a_custom_copy_of_administrator_may_not_purge(
    deleted: Workflow, make_admin: Callable[..., Any], client_for: Callable[..., APIClient]
) -> None:
    from directory.models import AdminRole
    from directory.role_services import role_create

    copy = role_create(name="Admin copy", based_on=AdminRole.objects.get(key="administrator"), actor=None)
    account = make_admin("copycat")
    account.groups.set([copy.group])
    assert _purge(client_for(account), deleted).status_code == 403


def test_deleted_workflows_stay_hidden_from_the_other_workflow_endpoints(
    admin_api: APIClient, deleted: Workflow
) -> None:
    """Only the purge looks among deleted workflows; reading one is still a 404."""
    assert admin_api.get(f"/api/v1/workflows/{deleted.pk}/").status_code == 404
    assert admin_api.post(f"/api/v1/workflows/{deleted.pk}/enable/").status_code == 404
