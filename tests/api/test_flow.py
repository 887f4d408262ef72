"""The whole story by API alone: what an HR tool or a ticketing system would do.

Groups and an event workflow are created over the API (the run-as role picked from the
validate endpoint's suggestion), a user is created over the API, the event it causes
triggers the workflow, and the execution and its steps are read back over the API. Then a
manual workflow is run twice with one idempotency key and runs once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from executions.models import Execution
from executions.tasks import run_execution

pytestmark = pytest.mark.django_db

ONBOARDING: dict[str, Any] = {
    "dsl": "1.0",
    "trigger": {"type": "event", "event": "user.created", "when": "{{ event.user.department == 'Engineering' }}"},
    "do": [
        {"add_to_eng": {"call": "user.add_to_group", "with": {"user": "{{ event.user.id }}", "group": "Engineering"}}},
        {
            "contractors": {
                "if": "{{ event.user.employee_type == 'contractor' }}",
                "call": "user.add_to_group",
                "with": {"user": "{{ event.user.id }}", "group": "Contractors"},
            }
        },
    ],
}

OFFBOARDING: dict[str, Any] = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}},
    "do": [{"suspend": {"call": "user.suspend", "with": {"user": "{{ input.email }}"}}}],
}


@pytest.fixture(autouse=True)
def inline_dispatch(settings: Any) -> None:
    settings.KEYFLOW_DISPATCH_INLINE = True


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[Callable[[], Any]], Any]:
    """Run an API call, then its on-commit callbacks (event dispatch), as a real commit would."""

    def go(call: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return call()

    return go


def test_onboarding_and_offboarding_by_api_alone(admin_api: APIClient, committed: Callable[..., Any]) -> None:
    api = admin_api
    for name in ("Engineering", "Contractors"):
        assert api.post("/api/v1/user-groups/", {"name": name}, format="json").status_code == 201

    # Ask which role is enough, then save the workflow running as exactly that role.
    check = api.post("/api/v1/workflows/validate/", {"definition": ONBOARDING}, format="json").json()
    assert check["valid"] is True
    role = check["narrowest_role"]
    created = api.post(
        "/api/v1/workflows/",
        {"name": "Onboard engineers", "definition": ONBOARDING, "run_as": role["id"]},
        format="json",
    )
    assert created.status_code == 201, created.content
    workflow = created.json()
    assert workflow["run_as_check"]["warnings"] == []

    # An HR tool creates two people; only the engineer matches the trigger's condition.
    hired = committed(
        lambda: api.post(
            "/api/v1/users/",
            {"username": "eve", "email": "eve@example.com", "department": "Engineering", "employee_type": "contractor"},
            format="json",
        )
    )
    assert hired.status_code == 201, hired.content
    committed(
        lambda: api.post(
            "/api/v1/users/", {"username": "sam", "email": "sam@example.com", "department": "Sales"}, format="json"
        )
    )

    executions = api.get(f"/api/v1/executions/?workflow={workflow['id']}").json()
    (execution,) = executions["results"]
    assert (execution["trigger_kind"], execution["status"]) == ("event", "queued")
    event = api.get(f"/api/v1/events/{execution['event']}/").json()
    assert (event["type"], event["resource_name"], event["actor"]["type"]) == (
        "user.created",
        "eve@example.com",
        "api_token",
    )

    run_execution(execution["id"], heartbeat=False)

    detail = api.get(f"/api/v1/executions/{execution['id']}/").json()
    assert detail["status"] == "succeeded", detail
    assert [(s["name"], s["status"]) for s in detail["steps"]] == [
        ("add_to_eng", "succeeded"),
        ("contractors", "succeeded"),
    ]
    assert detail["steps"][0]["output"]["group"] == "Engineering"
    user = api.get(f"/api/v1/users/{hired.json()['id']}/").json()
    groups = {g["id"]: g["name"] for g in api.get("/api/v1/user-groups/").json()["results"]}
    assert sorted(groups[g] for g in user["groups"]) == ["Contractors", "Engineering"]
    membership_events = api.get("/api/v1/events/?type=user_group.member_added").json()["results"]
    assert {e["actor"]["type"] for e in membership_events} == {"execution"}
    assert {e["caused_by_execution_id"] for e in membership_events} == {execution["id"]}

    # A ticketing system offboards her, retrying its request with the same idempotency key.
    offboard = api.post(
        "/api/v1/workflows/",
        {"name": "Offboard", "definition": OFFBOARDING, "run_as": _admin_role_id(api)},
        format="json",
    ).json()
    runs_url = f"/api/v1/workflows/{offboard['id']}/runs/"
    ticket = {"input": {"email": "eve@example.com"}}
    first = committed(lambda: api.post(runs_url, ticket, format="json", HTTP_IDEMPOTENCY_KEY="TICKET-4711"))
    retry = committed(lambda: api.post(runs_url, ticket, format="json", HTTP_IDEMPOTENCY_KEY="TICKET-4711"))
    assert (first.status_code, retry.status_code) == (202, 202)
    assert first.json()["id"] == retry.json()["id"]
    assert Execution.objects.filter(workflow_id=offboard["id"]).count() == 1

    run_execution(first.json()["id"], heartbeat=False)
    done = api.get(f"/api/v1/executions/{first.json()['id']}/").json()
    assert done["status"] == "succeeded"
    assert done["steps"][0]["output"]["state"] == "suspended"
    assert api.get(f"/api/v1/users/{hired.json()['id']}/").json()["state"] == "suspended"


def _admin_role_id(api: APIClient) -> int:
    roles = api.get("/api/v1/roles/?is_builtin=true").json()["results"]
    return next(r["id"] for r in roles if r["key"] == "administrator")
