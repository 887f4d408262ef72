"""Issue 5's matrix: every workflow-management endpoint for the four kinds of admin.

Administrators (with or without Billing) manage, run and cancel; Read Only sees workflows and
history (and may check a definition with ``validate``, which changes nothing) but changes
nothing; Help Desk has no access to workflows at all (404 on details, so
existence is not confirmed; 403 on lists and creation).
"""

from __future__ import annotations

from typing import Any

import pytest

from executions.models import Execution
from tests.api.conftest import MANUAL_DEFINITION
from workflows.models import Workflow
from workflows.services import workflow_run

pytestmark = pytest.mark.django_db

ROLES = ("administrator", "billing", "read_only", "help_desk")


def _calls(o: dict[str, Any]) -> list[tuple[str, str, str, Any]]:
    wf, ex = o["workflow"].pk, o["execution"].pk
    run_as = o["workflow"].run_as_id
    return [
        ("workflows_list", "get", "workflows/", None),
        ("workflows_retrieve", "get", f"workflows/{wf}/", None),
        ("workflows_versions", "get", f"workflows/{wf}/versions/", None),
        ("workflows_export", "get", f"workflows/{wf}/export/", None),
        ("workflows_validate", "post", "workflows/validate/", {"definition": MANUAL_DEFINITION, "run_as": run_as}),
        ("workflows_create", "post", "workflows/", {"name": "new", "definition": MANUAL_DEFINITION, "run_as": run_as}),
        ("workflows_partial_update", "patch", f"workflows/{wf}/", {"description": "changed"}),
        ("workflows_runs", "post", f"workflows/{wf}/runs/", {"input": {"user": "ann"}}),
        ("executions_list", "get", "executions/", None),
        ("executions_retrieve", "get", f"executions/{ex}/", None),
        ("executions_cancel", "post", f"executions/{ex}/cancel/", None),
        ("workflows_disable", "post", f"workflows/{wf}/disable/", None),
        ("workflows_enable", "post", f"workflows/{wf}/enable/", None),
        (
            "workflows_import",
            "post",
            "workflows/import/",
            {"name": "imported", "run_as": "Administrator", "definition": MANUAL_DEFINITION},
        ),
        ("workflows_destroy", "delete", f"workflows/{wf}/", None),
    ]


ADMIN = {
    "workflows_list": 200,
    "workflows_retrieve": 200,
    "workflows_versions": 200,
    "workflows_export": 200,
    "workflows_validate": 200,
    "workflows_create": 201,
    "workflows_partial_update": 200,
    "workflows_runs": 202,
    "executions_list": 200,
    "executions_retrieve": 200,
    "executions_cancel": 200,
    "workflows_disable": 200,
    "workflows_enable": 200,
    "workflows_import": 201,
    "workflows_destroy": 204,
}
READ_ONLY = {
    "workflows_list": 200,
    "workflows_retrieve": 200,
    "workflows_versions": 200,
    "workflows_export": 200,
    "workflows_validate": 200,
    "workflows_create": 403,
    "workflows_partial_update": 403,
    "workflows_runs": 403,
    "executions_list": 200,
    "executions_retrieve": 200,
    "executions_cancel": 403,
    "workflows_disable": 403,
    "workflows_enable": 403,
    "workflows_import": 403,
    "workflows_destroy": 403,
}
HELP_DESK = {
    "workflows_list": 403,
    "workflows_retrieve": 404,
    "workflows_versions": 404,
    "workflows_export": 404,
    "workflows_validate": 403,
    "workflows_create": 403,
    "workflows_partial_update": 404,
    "workflows_runs": 404,
    "executions_list": 403,
    "executions_retrieve": 404,
    "executions_cancel": 404,
    "workflows_disable": 404,
    "workflows_enable": 404,
    "workflows_import": 403,
    "workflows_destroy": 404,
}
EXPECTED = {"administrator": ADMIN, "billing": ADMIN, "read_only": READ_ONLY, "help_desk": HELP_DESK}


@pytest.mark.parametrize("role", ROLES)
def test_workflow_management_matrix(
    role, client_for, objects, administrator, billing_admin, read_only_admin, help_desk_admin
):
    caller = {
        "administrator": administrator,
        "billing": billing_admin,
        "read_only": read_only_admin,
        "help_desk": help_desk_admin,
    }[role]
    api = client_for(caller)
    workflow = objects["workflow"]
    got = {}
    for operation, method, path, body in _calls(objects):
        response = getattr(api, method)(f"/api/v1/{path}", body, format="json")
        got[operation] = response.status_code
    assert got == EXPECTED[role]
    # Nothing a refused caller asked for happened.
    if EXPECTED[role]["workflows_destroy"] != 204:
        workflow.refresh_from_db()
        assert (workflow.enabled, workflow.description) == (True, "")
        assert not Workflow.objects.filter(name__in=["new", "imported"]).exists()
        assert Execution.objects.filter(workflow=workflow).count() == 1
        assert Execution.objects.get(workflow=workflow).status == "queued"


def test_help_desk_cannot_run_even_a_workflow_it_could_guess(client_for, objects, help_desk_admin, administrator):
    api = client_for(help_desk_admin)
    before = Execution.objects.count()
    response = api.post(f"/api/v1/workflows/{objects['workflow'].pk}/runs/", {"input": {"user": "ann"}}, format="json")
    assert response.status_code == 404
    assert Execution.objects.count() == before
    workflow_run(workflow=objects["workflow"], input={"user": "ann"}, actor=administrator)  # still runnable by admins
