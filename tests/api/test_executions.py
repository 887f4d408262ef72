"""Execution history: filters, one execution with its steps in run order, cancelling."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from executions.models import Execution
from executions.tasks import run_execution
from workflows.services import workflow_create, workflow_run

pytestmark = pytest.mark.django_db

TWO_STEPS: dict[str, Any] = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {"schema": {"type": "object", "properties": {"user": {"type": "string"}}}},
    "do": [
        {"activate": {"call": "user.activate", "with": {"user": "{{ input.user }}"}}},
        {"only_if_missing": {"if": "{{ input.user == 'nobody' }}", "call": "user.suspend", "with": {"user": "x"}}},
        {"retitle": {"call": "user.update", "with": {"user": "{{ input.user }}", "job_title": "Rep"}}},
    ],
}


@pytest.fixture
def finished(objects: dict[str, Any], administrator: Any, admin_role: Any) -> Execution:
    workflow = workflow_create(name="Two steps", definition=TWO_STEPS, run_as=admin_role, actor=administrator)
    execution = workflow_run(workflow=workflow, input={"user": "ann"}, actor=administrator)
    run_execution(execution.pk, heartbeat=False)
    execution.refresh_from_db()
    return execution


def test_detail_shows_steps_in_run_order(admin_api: APIClient, finished: Execution) -> None:
    body = admin_api.get(f"/api/v1/executions/{finished.pk}/").json()
    assert body["status"] == "succeeded", body
    steps = body["steps"]
    assert [(s["name"], s["status"]) for s in steps] == [
        ("activate", "succeeded"),
        ("only_if_missing", "skipped"),
        ("retitle", "succeeded"),
    ]
    assert [s["sequence"] for s in steps] == sorted(s["sequence"] for s in steps)
    activate = steps[0]
    assert activate["path"] == "do[0].activate"
    assert activate["input"] == {"user": "ann"}
    assert activate["output"]["state"] == "active"
    assert activate["attempts"] == 1 and activate["error"] == ""
    assert activate["started_at"] and activate["finished_at"]
    assert steps[1]["skip_reason"] == "guard_false"


def test_list_filters(admin_api: APIClient, finished: Execution, objects: dict[str, Any]) -> None:
    queued = objects["execution"]
    assert admin_api.get("/api/v1/executions/").json()["count"] == 2
    by_workflow = admin_api.get(f"/api/v1/executions/?workflow={finished.workflow_id}").json()
    assert [e["id"] for e in by_workflow["results"]] == [finished.pk]
    assert "steps" not in by_workflow["results"][0]
    by_status = admin_api.get("/api/v1/executions/?status=queued").json()
    assert [e["id"] for e in by_status["results"]] == [queued.pk]
    assert admin_api.get("/api/v1/executions/?trigger_kind=manual").json()["count"] == 2
    assert admin_api.get("/api/v1/executions/?trigger_kind=schedule").json()["count"] == 0
    future = (timezone.now() + timezone.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert admin_api.get("/api/v1/executions/", {"queued_after": future}).json()["count"] == 0
    assert admin_api.get("/api/v1/executions/", {"queued_before": future}).json()["count"] == 2
    assert admin_api.get("/api/v1/executions/?status=exploded").status_code == 400


def test_cancel(admin_api: APIClient, objects: dict[str, Any], finished: Execution) -> None:
    queued = objects["execution"]
    response = admin_api.post(f"/api/v1/executions/{queued.pk}/cancel/")
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("cancelled", True)
    again = admin_api.post(f"/api/v1/executions/{finished.pk}/cancel/")
    assert again.status_code == 409 and again.json()["code"] == "finished"
    assert admin_api.post("/api/v1/executions/999999/cancel/").status_code == 404


def test_steps_need_the_step_permission_as_on_the_pages(client_for, make_admin, read_only_admin, finished) -> None:
    from django.contrib.auth.models import Permission

    assert len(client_for(read_only_admin).get(f"/api/v1/executions/{finished.pk}/").json()["steps"]) == 3
    viewer = make_admin("viewer-vic")
    viewer.user_permissions.add(Permission.objects.get(codename="view_execution"))
    body = client_for(viewer).get(f"/api/v1/executions/{finished.pk}/").json()
    assert body["id"] == finished.pk and "steps" not in body
    assert "steps" not in client_for(viewer).get(f"/api/v1/executions/{finished.pk}/export/").json()


def test_help_desk_may_not_read_history(client_for, help_desk_admin, finished) -> None:
    api = client_for(help_desk_admin)
    assert api.get("/api/v1/executions/").status_code == 403
    assert api.get(f"/api/v1/executions/{finished.pk}/").status_code == 404
    assert api.get("/api/v1/executions/export-csv/").status_code == 403


def test_filter_by_what_an_execution_touched(admin_api: APIClient, finished: Execution) -> None:
    touched = admin_api.get("/api/v1/executions/", {"touched": "ann@example.com"}).json()
    assert [e["id"] for e in touched["results"]] == [finished.pk]
    assert admin_api.get("/api/v1/executions/", {"touched": "bob"}).json()["count"] == 0
    unknown = admin_api.get("/api/v1/executions/", {"touched": "nobody"})
    assert unknown.status_code == 400 and "touched" in str(unknown.json())


def test_export_json_and_csv(admin_api: APIClient, finished: Execution, objects: dict[str, Any]) -> None:
    document = admin_api.get(f"/api/v1/executions/{finished.pk}/export/")
    assert document["Content-Disposition"].startswith("attachment")
    body = document.json()
    assert body["version"]["definition"] == TWO_STEPS and body["steps"][0]["name"] == "activate"
    assert {e["type"] for e in body["caused_events"]} >= {"user.updated"}
    response = admin_api.get("/api/v1/executions/export-csv/", {"status": "succeeded"})
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0].startswith("id,workflow,version,status") and len(lines) == 2
    assert lines[1].startswith(f"{finished.pk},Two steps,1,succeeded,manual,Manual by admin-ada")


def test_rerun(admin_api: APIClient, client_for, read_only_admin, finished: Execution, objects) -> None:
    response = admin_api.post(f"/api/v1/executions/{finished.pk}/rerun/", {"version": "latest"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["rerun_of"] == finished.pk and body["status"] == "queued" and body["started_by"] == "admin-ada"
    bad = admin_api.post(f"/api/v1/executions/{finished.pk}/rerun/", {"version": "newest"}, format="json")
    assert bad.status_code == 400 and "version" in str(bad.json())
    unfinished = admin_api.post(f"/api/v1/executions/{body['id']}/rerun/", format="json")
    assert unfinished.status_code == 409
    assert client_for(read_only_admin).post(f"/api/v1/executions/{finished.pk}/rerun/").status_code == 403
