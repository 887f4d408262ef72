"""An admin may not act through a run-as role that holds permissions they lack: not by editing the
workflow, not by enabling it, not by running it (issue 17).

Before, the check fired only when the run-as role itself changed: an Administrator could edit the
definition of a workflow that runs as Administrator with Billing (created by a billing admin) and
run it, so reaching what their own role withholds.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from directory.models import AdminRole
from executions.models import Execution
from tests.workflows.test_admin_access import INLINE
from workflows.models import Workflow
from workflows.services import WorkflowInvalid, workflow_create, workflow_run, workflow_set_enabled, workflow_update

DEFINITION = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "do": [{"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "X"}}}],
}
EDITED = {**DEFINITION, "do": [{"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "Y"}}}]}
BEYOND = "Run-as role Administrator with Billing holds permissions you do not: "


@pytest.fixture
def billing_workflow(billing_admin: Any) -> Workflow:
    """Made by a billing admin, running as Administrator with Billing (a broader role than Administrator)."""
    return workflow_create(
        name="billing",
        definition=DEFINITION,
        run_as=AdminRole.objects.get(key="administrator-with-billing"),
        actor=billing_admin,
    )


def test_editing_the_definition_is_refused(administrator: Any, billing_workflow: Workflow) -> None:
    with pytest.raises(WorkflowInvalid) as info:
        workflow_update(workflow=billing_workflow, actor=administrator, definition=EDITED)
    assert info.value.problems[0].path == "run_as"
    assert info.value.problems[0].message.startswith(BEYOND)
    with pytest.raises(WorkflowInvalid):
        workflow_update(workflow=billing_workflow, actor=administrator, name="renamed")
    billing_workflow.refresh_from_db()
    assert (billing_workflow.name, billing_workflow.definition) == ("billing", DEFINITION)


def test_running_and_enabling_are_refused(administrator: Any, billing_admin: Any, billing_workflow: Workflow) -> None:
    with pytest.raises(WorkflowInvalid) as info:
        workflow_run(workflow=billing_workflow, input={}, actor=administrator)
    assert info.value.problems[0].message.startswith(BEYOND)
    assert not Execution.objects.filter(workflow=billing_workflow).exists()

    workflow_set_enabled(workflow=billing_workflow, enabled=False, actor=administrator)  # disabling is fine
    with pytest.raises(WorkflowInvalid):
        workflow_set_enabled(workflow=billing_workflow, enabled=True, actor=administrator)


def test_the_broader_admin_and_the_shell_still_may(billing_admin: Any, billing_workflow: Workflow) -> None:
    workflow_update(workflow=billing_workflow, actor=billing_admin, definition=EDITED)
    assert workflow_run(workflow=billing_workflow, input={}, actor=billing_admin).pk
    assert workflow_run(workflow=billing_workflow, input={}, actor=None).pk  # manage.py run_workflow


def test_a_workflow_with_a_narrower_role_is_editable_and_runnable(administrator: Any, billing_admin: Any) -> None:
    workflow = workflow_create(
        name="hd", definition=DEFINITION, run_as=AdminRole.objects.get(key="help-desk"), actor=billing_admin
    )
    workflow_update(workflow=workflow, actor=administrator, definition=EDITED)
    assert workflow_run(workflow=workflow, input={}, actor=administrator).pk


def test_the_api_refuses_edit_run_and_enable(
    client_for: Any, administrator: Any, billing_admin: Any, billing_workflow: Workflow
) -> None:
    api: APIClient = client_for(administrator)
    url = f"/api/v1/workflows/{billing_workflow.pk}/"

    response = api.patch(url, {"definition": EDITED}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["run_as"][0].startswith(BEYOND)

    response = api.post(f"{url}runs/", {"input": {}}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"].startswith(BEYOND)

    assert api.post(f"{url}disable/").status_code == 200
    response = api.post(f"{url}enable/")
    assert response.status_code == 403
    assert response.json()["detail"].startswith(BEYOND)

    billing_api: APIClient = client_for(billing_admin)
    assert billing_api.post(f"{url}enable/").status_code == 200
    assert billing_api.post(f"{url}runs/", {"input": {}}, format="json").status_code == 202


def _admin_post(client: Client, workflow: Workflow, definition: dict[str, Any]) -> Any:
    return client.post(
        f"/admin/workflows/workflow/{workflow.pk}/change/",
        {
            "name": workflow.name,
            "description": "",
            "run_as": workflow.run_as_id,
            "enabled": "on",
            "definition": json.dumps(definition),
            **INLINE,
        },
    )


def test_the_admin_refuses_the_edit_beside_the_field(
    client: Client, administrator: Any, billing_admin: Any, billing_workflow: Workflow
) -> None:
    client.force_login(administrator)
    response = _admin_post(client, billing_workflow, EDITED)
    assert response.status_code == 200  # the form again, with the problem beside the run-as field
    assert response.context["adminform"].form.errors["run_as"][0].startswith(BEYOND)
    billing_workflow.refresh_from_db()
    assert billing_workflow.definition == DEFINITION

    client.force_login(billing_admin)
    assert _admin_post(client, billing_workflow, EDITED).status_code == 302
    billing_workflow.refresh_from_db()
    assert billing_workflow.definition == EDITED
