"""The OpenAPI schema: valid, generated without warnings, with stable operation ids and
documented errors; Swagger UI served from the sidecar's local assets (works offline)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

# What ``api.call`` and scripts use: renaming one of these breaks callers.
STABLE_OPERATION_IDS = {
    "users_list",
    "users_create",
    "users_retrieve",
    "users_partial_update",
    "users_destroy",
    "user_groups_members_add",
    "user_groups_members_remove",
    "device_groups_members_add",
    "policies_bind",
    "command_runs_create",
    "notification_channels_create",
    "connections_create",
    "roles_create",
    "events_list",
    "workflows_list",
    "workflows_create",
    "workflows_validate",
    "workflows_run",
    "workflows_enable",
    "workflows_disable",
    "workflows_versions",
    "workflows_export",
    "workflows_import",
    "executions_list",
    "executions_retrieve",
    "executions_cancel",
    "catalog_actions",
    "catalog_triggers",
    "catalog_events",
    "catalog_operators",
    "dsl_schema",
}


@pytest.fixture
def schema(client: Any) -> dict[str, Any]:
    GENERATOR_STATS.reset()
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in schema["paths"].items() for method, op in item.items()]


def test_schema_is_valid_openapi_without_generator_warnings(schema: dict[str, Any]) -> None:
    validate_schema(schema)
    assert not GENERATOR_STATS, (
        f"warnings: {dict(GENERATOR_STATS._warn_cache)}, errors: {dict(GENERATOR_STATS._error_cache)}"
    )


def test_operation_ids_are_unique_and_stable(schema: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(schema)]
    assert len(ids) == len(set(ids))
    assert set(ids) >= STABLE_OPERATION_IDS
    by_id = {op["operationId"]: (path, method) for path, method, op in _operations(schema)}
    assert by_id["workflows_run"] == ("/api/v1/workflows/{id}/runs/", "post")
    assert by_id["users_list"] == ("/api/v1/users/", "get")


def test_errors_are_documented(schema: dict[str, Any]) -> None:
    for path, method, op in _operations(schema):
        codes = set(op["responses"])
        assert {"401", "403"} <= codes, (path, method)
        if "{" in path:
            assert "404" in codes, (path, method)
        if "requestBody" in op:
            assert "400" in codes, (path, method)
    run = schema["paths"]["/api/v1/workflows/{id}/runs/"]["post"]
    assert set(run["responses"]) >= {"202", "400", "404", "409"}
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in run["parameters"])
    errors = schema["components"]["schemas"]["ValidationError"]["properties"]["errors"]
    assert errors["additionalProperties"]["items"]["oneOf"][0] == {"type": "string"}


def test_lists_document_pagination_filters_and_ordering(schema: dict[str, Any]) -> None:
    params = {p["name"] for p in schema["paths"]["/api/v1/users/"]["get"]["parameters"]}
    assert {"limit", "offset", "ordering"} <= params
    page = schema["components"]["schemas"]["PaginatedUserList"]
    assert {"count", "next", "previous", "results"} <= set(page["properties"])


def test_the_execution_history_documents_keyset_pages(schema: dict[str, Any]) -> None:
    """The history is paged by cursor (no offset, no count): a deep page costs what the first does."""
    params = {p["name"] for p in schema["paths"]["/api/v1/executions/"]["get"]["parameters"]}
    assert {"cursor", "limit", "ordering", "workflow", "status", "trigger_kind", "queued_after"} <= params
    assert "offset" not in params
    page = schema["components"]["schemas"]["PaginatedExecutionList"]
    assert set(page["properties"]) == {"next", "previous", "results"}


def test_catalogue_is_a_plain_list(schema: dict[str, Any], admin_api: APIClient) -> None:
    ok = schema["paths"]["/api/v1/catalog/actions/"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["type"] == "array"
    assert isinstance(admin_api.get("/api/v1/catalog/actions/").json(), list)


def test_secrets_are_write_only_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    assert "webhook_url" not in components["NotificationChannel"]["properties"]
    assert "has_webhook_url" in components["NotificationChannel"]["properties"]
    assert "webhook_url" in components["NotificationChannelRequest"]["properties"]
    assert "secret" not in components["Connection"]["properties"]
    assert "has_secret" in components["Connection"]["properties"]
    assert "secret" in components["ConnectionRequest"]["properties"]
    assert "has_secret" not in components["ConnectionRequest"]["properties"]


def test_swagger_ui_uses_local_assets() -> None:
    page = APIClient().get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
