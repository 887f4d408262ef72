"""Workflow endpoints: validation with DSL paths, the run-as check, versions, enable/disable,
runs with idempotency keys, export/import, and next run times."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from rest_framework.test import APIClient

from directory.models import AdminRole
from executions.choices import TriggerKind
from executions.models import Execution
from tests.api.conftest import MANUAL_DEFINITION
from workflows.models import Workflow
from workflows.run_as import narrowest_builtin_role

pytestmark = pytest.mark.django_db

UPDATE_DEFINITION: dict[str, Any] = {
    "dsl": "1.0",
    "trigger": {"type": "event", "event": "user.created"},
    "do": [{"set_title": {"call": "user.update", "with": {"user": "{{ event.user.id }}", "job_title": "New"}}}],
}


def _role(key: str) -> AdminRole:
    return AdminRole.objects.get(key=key)


def _create(client: APIClient, name: str, definition: Any, role_key: str = "administrator", **extra: Any) -> Any:
    body = {"name": name, "definition": definition, "run_as": _role(role_key).pk, **extra}
    return client.post("/api/v1/workflows/", body, format="json")


class TestSaving:
    def test_every_problem_with_its_task_path(self, admin_api: APIClient) -> None:
        definition = {
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [
                {"first": {"call": "user.teleport", "with": {}}},
                {"first": {"call": "user.activate", "with": {"user": "{{ steps.later.output }}"}}},
                {"later": {"call": "user.suspend", "with": {"user": "{{ input.user"}}},
            ],
        }
        response = _create(admin_api, "Broken", definition)
        assert response.status_code == 400
        body = response.json()
        assert body["code"] == "invalid" and list(body["errors"]) == ["definition"]
        paths = {problem["path"] for problem in body["errors"]["definition"]}
        assert "do[0].first.call" in paths
        assert any(path.startswith("do[1].first") for path in paths)
        assert any(path.startswith("do[2].later.with.user") for path in paths)
        assert all(set(problem) == {"path", "message"} for problem in body["errors"]["definition"])
        assert not Workflow.objects.filter(name="Broken").exists()

    def test_run_as_role_that_does_not_cover_an_action(self, admin_api: APIClient) -> None:
        response = _create(admin_api, "Activate", MANUAL_DEFINITION, role_key="help-desk")
        assert response.status_code == 400
        (problem,) = response.json()["errors"]["definition"]
        assert problem["path"] == "do[0].activate.call"
        assert "directory.change_user_state" in problem["message"] and "Help Desk" in problem["message"]

    def test_save_response_names_the_narrowest_role_and_warns(self, admin_api: APIClient) -> None:
        response = _create(admin_api, "Title on join", UPDATE_DEFINITION)
        assert response.status_code == 201, response.content
        body = response.json()
        narrowest = narrowest_builtin_role(UPDATE_DEFINITION)
        assert narrowest is not None and narrowest.key != "administrator"
        assert body["run_as_check"]["narrowest_role"] == {
            "id": narrowest.pk,
            "key": narrowest.key,
            "name": narrowest.name,
        }
        assert narrowest.name in body["run_as_check"]["warnings"][0]
        assert (body["type"], body["trigger_event"], body["version"], body["enabled"]) == (
            "event",
            "user.created",
            1,
            True,
        )

    def test_missing_fields_duplicate_names_and_unknown_roles(self, admin_api: APIClient, manual_workflow: Any) -> None:
        missing = admin_api.post("/api/v1/workflows/", {}, format="json").json()["errors"]
        assert set(missing) == {"name", "definition", "run_as"}
        duplicate = _create(admin_api, manual_workflow.name, MANUAL_DEFINITION)
        assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]
        unknown_role = admin_api.post(
            "/api/v1/workflows/", {"name": "x", "definition": MANUAL_DEFINITION, "run_as": 10**12}, format="json"
        )
        assert unknown_role.status_code == 400 and list(unknown_role.json()["errors"]) == ["run_as"]

    def test_definition_that_is_not_an_object(self, admin_api: APIClient) -> None:
        response = _create(admin_api, "List", ["not", "a", "workflow"])
        assert response.status_code == 400
        assert response.json()["errors"]["definition"][0]["path"] == ""

    def test_update_writes_a_new_version_only_when_the_definition_changes(
        self, admin_api: APIClient, manual_workflow: Any
    ) -> None:
        url = f"/api/v1/workflows/{manual_workflow.pk}/"
        assert admin_api.patch(url, {"description": "Same document"}, format="json").json()["version"] == 1
        changed = copy.deepcopy(MANUAL_DEFINITION)
        changed["do"].append({"suspend": {"call": "user.suspend", "with": {"user": "{{ input.user }}"}}})
        response = admin_api.put(
            url, {"name": "Renamed", "definition": changed, "run_as": manual_workflow.run_as_id}, format="json"
        )
        assert response.status_code == 200, response.content
        assert (response.json()["version"], response.json()["name"]) == (2, "Renamed")
        versions = admin_api.get(url + "versions/").json()
        assert versions["count"] == 2
        assert [v["number"] for v in versions["results"]] == [2, 1]
        assert versions["results"][1]["definition"] == MANUAL_DEFINITION
        assert versions["results"][0]["author"] == "admin-ada"

    def test_invalid_update_changes_nothing(self, admin_api: APIClient, manual_workflow: Any) -> None:
        url = f"/api/v1/workflows/{manual_workflow.pk}/"
        response = admin_api.patch(url, {"definition": {"dsl": "2.0"}, "enabled": False}, format="json")
        assert response.status_code == 400
        manual_workflow.refresh_from_db()
        assert manual_workflow.enabled and manual_workflow.current_version.number == 1

    def test_enable_disable_and_patch_enabled(self, admin_api: APIClient, manual_workflow: Any) -> None:
        url = f"/api/v1/workflows/{manual_workflow.pk}/"
        assert admin_api.post(url + "disable/").json()["enabled"] is False
        assert admin_api.post(url + "enable/").json()["enabled"] is True
        assert admin_api.patch(url, {"enabled": False}, format="json").json()["enabled"] is False
        assert admin_api.get("/api/v1/workflows/?enabled=false").json()["count"] == 1

    def test_delete_archives_and_keeps_history(self, admin_api: APIClient, objects: dict[str, Any]) -> None:
        workflow = objects["workflow"]
        kept = set(Execution.objects.filter(workflow_id=workflow.pk).values_list("pk", flat=True))
        assert kept
        assert admin_api.delete(f"/api/v1/workflows/{workflow.pk}/").status_code == 204
        assert admin_api.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 404
        assert set(Execution.objects.filter(workflow_id=workflow.pk).values_list("pk", flat=True)) == kept
        listed = admin_api.get(f"/api/v1/executions/?workflow={workflow.pk}").json()
        assert {row["id"] for row in listed["results"]} == kept


class TestValidate:
    def test_valid_definition(self, admin_api: APIClient) -> None:
        body = admin_api.post(
            "/api/v1/workflows/validate/",
            {"definition": UPDATE_DEFINITION, "run_as": _role("administrator").pk},
            format="json",
        ).json()
        narrowest = narrowest_builtin_role(UPDATE_DEFINITION)
        assert body["valid"] is True and body["problems"] == []
        assert body["narrowest_role"]["key"] == narrowest.key
        assert len(body["warnings"]) == 1

    def test_without_a_role_the_definition_alone_is_checked(self, admin_api: APIClient) -> None:
        body = admin_api.post("/api/v1/workflows/validate/", {"definition": UPDATE_DEFINITION}, format="json").json()
        assert body["valid"] is True
        assert body["narrowest_role"]["key"] == narrowest_builtin_role(UPDATE_DEFINITION).key

    def test_problems_and_role_coverage(self, admin_api: APIClient) -> None:
        body = admin_api.post(
            "/api/v1/workflows/validate/",
            {"definition": MANUAL_DEFINITION, "run_as": _role("read-only").pk},
            format="json",
        ).json()
        assert body["valid"] is False
        assert [p["path"] for p in body["problems"]] == ["do[0].activate.call"]
        broken = admin_api.post(
            "/api/v1/workflows/validate/", {"definition": {"dsl": "1.0", "do": "nothing"}}, format="json"
        ).json()
        assert broken["valid"] is False and broken["narrowest_role"] is None
        assert broken["problems"] == [
            {"path": "trigger", "message": "'trigger' is required"},
            {"path": "do", "message": "must be a list"},
        ]


class TestRuns:
    def test_run_returns_the_queued_execution(self, admin_api: APIClient, manual_workflow: Any) -> None:
        response = admin_api.post(
            f"/api/v1/workflows/{manual_workflow.pk}/runs/", {"input": {"user": "ann"}}, format="json"
        )
        assert response.status_code == 202
        body = response.json()
        assert (body["status"], body["trigger_kind"], body["input"], body["steps"]) == (
            "queued",
            TriggerKind.API,
            {"user": "ann"},
            [],
        )
        assert body["started_by"] == "admin-ada"

    def test_input_problems_keep_their_paths(self, admin_api: APIClient, manual_workflow: Any) -> None:
        url = f"/api/v1/workflows/{manual_workflow.pk}/runs/"
        wrong_type = admin_api.post(url, {"input": {"user": 5}}, format="json")
        assert wrong_type.status_code == 400
        assert wrong_type.json()["errors"] == {
            "input": [{"path": "input.user", "message": "5 is not of type 'string'"}]
        }
        missing = admin_api.post(url, {}, format="json").json()["errors"]["input"]
        assert missing[0]["path"] == "input" and "'user' is a required property" in missing[0]["message"]
        not_object = admin_api.post(url, {"input": [1]}, format="json")
        assert not_object.status_code == 400 and "input" in not_object.json()["errors"]
        assert not Execution.objects.exists()

    def test_idempotency_key(self, admin_api: APIClient, manual_workflow: Any) -> None:
        url = f"/api/v1/workflows/{manual_workflow.pk}/runs/"
        first = admin_api.post(url, {"input": {"user": "ann"}}, format="json", HTTP_IDEMPOTENCY_KEY="onboard-ann")
        second = admin_api.post(url, {"input": {"user": "ann"}}, format="json", HTTP_IDEMPOTENCY_KEY="onboard-ann")
        assert (first.status_code, second.status_code) == (202, 202)
        assert first.json()["id"] == second.json()["id"]
        assert first.json()["idempotency_key"] == "onboard-ann"
        assert Execution.objects.count() == 1
        clash = admin_api.post(url, {"input": {"user": "bob"}}, format="json", HTTP_IDEMPOTENCY_KEY="onboard-ann")
        assert clash.status_code == 409 and clash.json()["code"] == "idempotency_conflict"
        other_key = admin_api.post(url, {"input": {"user": "ann"}}, format="json", HTTP_IDEMPOTENCY_KEY="again")
        assert other_key.status_code == 202 and other_key.json()["id"] != first.json()["id"]
        too_long = admin_api.post(url, {"input": {"user": "ann"}}, format="json", HTTP_IDEMPOTENCY_KEY="k" * 256)
        assert too_long.status_code == 400 and list(too_long.json()["errors"]) == ["Idempotency-Key"]

    def test_disabled_and_event_workflows_are_409(self, admin_api: APIClient, manual_workflow: Any) -> None:
        admin_api.post(f"/api/v1/workflows/{manual_workflow.pk}/disable/")
        disabled = admin_api.post(
            f"/api/v1/workflows/{manual_workflow.pk}/runs/", {"input": {"user": "a"}}, format="json"
        )
        assert disabled.status_code == 409 and disabled.json()["code"] == "not_runnable"
        event_workflow = _create(admin_api, "On join", UPDATE_DEFINITION).json()
        refused = admin_api.post(f"/api/v1/workflows/{event_workflow['id']}/runs/", {}, format="json")
        assert refused.status_code == 409 and "event" in refused.json()["detail"].lower()


class TestExportImport:
    def test_round_trip(self, admin_api: APIClient, manual_workflow: Any) -> None:
        exported = admin_api.get(f"/api/v1/workflows/{manual_workflow.pk}/export/").json()
        assert exported == {
            "keyflow_export": "1.0",
            "name": manual_workflow.name,
            "description": "",
            "run_as": "Administrator",
            "enabled": True,
            "definition": MANUAL_DEFINITION,
        }
        del exported["enabled"]
        exported["name"] = "Copy"
        response = admin_api.post("/api/v1/workflows/import/", exported, format="json")
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["name"], body["enabled"], body["run_as"], body["definition"]) == (
            "Copy",
            False,
            manual_workflow.run_as_id,
            MANUAL_DEFINITION,
        )

    def test_role_by_key_and_unknown_roles(self, admin_api: APIClient) -> None:
        document = {"name": "By key", "run_as": "administrator", "definition": MANUAL_DEFINITION}
        assert admin_api.post("/api/v1/workflows/import/", document, format="json").status_code == 201
        unknown = admin_api.post(
            "/api/v1/workflows/import/", {**document, "name": "x", "run_as": "Wizard"}, format="json"
        )
        assert unknown.status_code == 400 and unknown.json()["errors"] == {"run_as": ["No role named 'Wizard'."]}

    def test_invalid_documents(self, admin_api: APIClient) -> None:
        document = {"name": "Bad", "run_as": "Administrator", "definition": {"dsl": "1.0", "trigger": {}, "do": []}}
        response = admin_api.post("/api/v1/workflows/import/", document, format="json")
        assert response.status_code == 400 and "definition" in response.json()["errors"]
        wrong_format = admin_api.post("/api/v1/workflows/import/", {**document, "keyflow_export": "9"}, format="json")
        assert "keyflow_export" in wrong_format.json()["errors"]


def test_next_run_at_for_schedules(admin_api: APIClient) -> None:
    schedule = {
        "dsl": "1.0",
        "trigger": {"type": "schedule", "cron": "0 9 * * 1", "timezone": "Europe/Berlin"},
        "do": [{"noop": {"switch": [{"default": {"do": []}}]}}],
    }
    body = _create(admin_api, "Weekly", schedule).json()
    assert body["type"] == "schedule" and body["next_run_at"] is not None
    assert body["next_run_at"].endswith("Z")
    disabled = admin_api.post(f"/api/v1/workflows/{body['id']}/disable/").json()
    assert disabled["next_run_at"] is None
