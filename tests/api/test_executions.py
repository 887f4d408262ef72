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
    newest_first = admin_api.get("/api/v1/executions/").json()
    assert [e["id"] for e in newest_first["results"]] == [finished.pk, queued.pk]
    assert "count" not in newest_first  # keyset pages: no count of the whole history
    by_workflow = admin_api.get(f"/api/v1/executions/?workflow={finished.workflow_id}").json()
    assert [e["id"] for e in by_workflow["results"]] == [finished.pk]
    assert "steps" not in by_workflow["results"][0]
    by_status = admin_api.get("/api/v1/executions/?status=queued").json()
    assert [e["id"] for e in by_status["results"]] == [queued.pk]
    assert len(admin_api.get("/api/v1/executions/?trigger_kind=manual").json()["results"]) == 2
    assert len(admin_api.get("/api/v1/executions/?trigger_kind=schedule").json()["results"]) == 0
    future = (timezone.now() + timezone.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert len(admin_api.get("/api/v1/executions/", {"queued_after": future}).json()["results"]) == 0
    assert len(admin_api.get("/api/v1/executions/", {"queued_before": future}).json()["results"]) == 2
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
    assert len(admin_api.get("/api/v1/executions/", {"touched": "bob"}).json()["results"]) == 0
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


# --- keyset pages ---------------------------------------------------------------------------------


def _bulk(workflow: Any, count: int) -> list[int]:
    """``count`` finished executions, pairs sharing a queued_at (ties broken by id), newest first."""
    start = timezone.now() - timezone.timedelta(days=1)
    rows = [
        Execution(workflow=workflow, version=workflow.current_version, trigger_kind="api", status="succeeded")
        for _ in range(count)
    ]
    for index, execution in enumerate(Execution.objects.bulk_create(rows)):  # auto_now_add: set afterwards
        Execution.objects.filter(pk=execution.pk).update(queued_at=start + timezone.timedelta(seconds=index // 2))
    return list(Execution.objects.filter(workflow=workflow).order_by("-queued_at", "-id").values_list("pk", flat=True))


def _walk(api: APIClient, url: str, link: str = "next") -> tuple[list[int], list[dict[str, Any]]]:
    seen, pages = [], []
    while url:
        body = api.get(url).json()
        pages.append(body)
        seen += [row["id"] for row in body["results"]]
        url = body[link]
    return seen, pages


def test_keyset_pages_walk_every_execution_once_both_ways(admin_api: APIClient, objects: dict[str, Any]) -> None:
    workflow = objects["workflow"]
    expected = _bulk(workflow, 23)
    seen, pages = _walk(admin_api, f"/api/v1/executions/?workflow={workflow.pk}&limit=5")
    assert seen == expected and len(pages) == 5
    assert "cursor=" in pages[1]["previous"] and pages[0]["previous"] is None
    _, back = _walk(admin_api, pages[-1]["previous"], link="previous")
    pages_back = [[row["id"] for row in page["results"]] for page in back]
    assert pages_back == [expected[i : i + 5] for i in (15, 10, 5, 0)]  # the same pages, in reverse
    oldest_first, _ = _walk(admin_api, f"/api/v1/executions/?workflow={workflow.pk}&ordering=queued_at&limit=4")
    assert oldest_first == sorted(expected, key=expected.index, reverse=True)


def test_a_deep_page_is_a_keyset_query_without_a_count(admin_api: APIClient, objects: dict[str, Any]) -> None:
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    workflow = objects["workflow"]
    _bulk(workflow, 40)
    url = f"/api/v1/executions/?workflow={workflow.pk}&limit=7"
    for _ in range(3):
        url = admin_api.get(url).json()["next"]
    with CaptureQueriesContext(connection) as context:
        assert admin_api.get(url).status_code == 200
    page = [q["sql"] for q in context.captured_queries if 'FROM "executions_execution"' in q["sql"]]
    assert len(page) == 1, page  # the page itself; no COUNT(*) of the history
    assert re.search(r'"executions_execution"\."queued_at" <=? ', page[0]), page[0]
    # DRF skips only the rows sharing the boundary's queued_at (pairs here), never the pages before
    offset = re.search(r"OFFSET (\d+)", page[0])
    assert offset is None or int(offset.group(1)) <= 1, page[0]


def test_a_cursor_the_list_did_not_give_is_a_400(admin_api: APIClient, objects: dict[str, Any]) -> None:
    response = admin_api.get("/api/v1/executions/", {"cursor": "not-a-cursor"})
    assert response.status_code == 400
    assert response.json()["errors"] == {"cursor": ["Not a cursor from this list's next or previous link."]}


def test_limit_is_capped_at_500(admin_api: APIClient, objects: dict[str, Any]) -> None:
    workflow = objects["workflow"]
    Execution.objects.bulk_create(
        Execution(workflow=workflow, version=workflow.current_version, trigger_kind="api", status="succeeded")
        for _ in range(510)
    )
    assert len(admin_api.get("/api/v1/executions/?limit=2").json()["results"]) == 2
    assert len(admin_api.get("/api/v1/executions/").json()["results"]) == 50
    assert len(admin_api.get("/api/v1/executions/?limit=100000").json()["results"]) == 500
