"""Bad input gets a 4xx in the documented shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from directory.api import views as directory_views
from directory.models import User

pytestmark = pytest.mark.django_db


def _error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert isinstance(body["detail"], str) and isinstance(body["code"], str)
    return body


def test_malformed_json(admin_api: APIClient) -> None:
    response = admin_api.post("/api/v1/users/", '{"username": ', content_type="application/json")
    assert _error(response, 400)["code"] == "parse_error"


def test_form_encoded_bodies_are_refused(admin_api: APIClient) -> None:
    response = admin_api.post("/api/v1/users/", {"username": "x"}, format="multipart")
    assert _error(response, 415)["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": ["a"], "email": "a@x.com"}, "username"),
        ({"username": "a", "email": "a@x.com", "mfa_enrolled": "perhaps"}, "mfa_enrolled"),
        ({"username": "a", "email": "a@x.com", "hire_date": "last tuesday"}, "hire_date"),
        ({"username": "a", "email": "a@x.com", "manager": 10**30}, "manager"),
        ({"username": "a", "email": "a@x.com", "manager": "ann"}, "manager"),
        ({"username": "a", "email": "a@x.com", "attributes": [1, 2]}, "attributes"),
        ({"username": "a", "email": "a@x.com", "state": "retired"}, "state"),
        ({"username": "a" * 151, "email": "a@x.com"}, "username"),
        ({"username": "a\x00b", "email": "a@x.com"}, "username"),
    ],
)
def test_wrong_types_and_values_name_the_field(admin_api: APIClient, body: dict[str, Any], field: str) -> None:
    errors = _error(admin_api.post("/api/v1/users/", body, format="json"), 400)["errors"]
    assert list(errors) == [field]
    assert all(isinstance(message, str) for message in errors[field])


def test_huge_numbers(admin_api: APIClient, objects: dict[str, Any]) -> None:
    response = admin_api.post(
        "/api/v1/commands/", {"name": "c", "script": "s", "timeout_seconds": 10**30}, format="json"
    )
    assert "timeout_seconds" in _error(response, 400)["errors"]
    assert _error(admin_api.get(f"/api/v1/users/{10**30}/"), 404)["code"] == "not_found"
    members = admin_api.post(f"/api/v1/user-groups/{objects['group'].pk}/members/", {"user": 10**30}, format="json")
    assert "user" in _error(members, 400)["errors"]
    assert admin_api.get(f"/api/v1/executions/?workflow={10**30}").status_code == 400


def test_numbers_json_cannot_hold(admin_api: APIClient) -> None:
    body = '{"username": "a", "email": "a@x.com", "attributes": {"n": 1e400}}'
    response = admin_api.post("/api/v1/users/", body, content_type="application/json")
    assert list(_error(response, 400)["errors"]) == ["attributes"]
    nan = admin_api.post("/api/v1/users/", '{"username": NaN}', content_type="application/json")
    assert _error(nan, 400)["code"] == "parse_error"


def test_body_that_is_not_an_object(admin_api: APIClient) -> None:
    errors = _error(admin_api.post("/api/v1/users/", [1, 2], format="json"), 400)["errors"]
    assert list(errors) == ["non_field_errors"]


def test_deeply_nested_json(admin_api: APIClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    response = admin_api.post(
        "/api/v1/workflows/validate/", f'{{"definition": {deep}}}', content_type="application/json"
    )
    assert _error(response, 400)["code"] == "parse_error"


def test_lone_surrogates(admin_api: APIClient) -> None:
    response = admin_api.post(
        "/api/v1/users/", '{"username": "\\ud800", "email": "a@x.com"}', content_type="application/json"
    )
    assert _error(response, 400)["code"] == "parse_error"


def test_unknown_ids_in_paths_are_404(admin_api: APIClient) -> None:
    for path in ("users/424242/", "workflows/424242/versions/", "executions/424242/", "roles/abc/"):
        assert _error(admin_api.get(f"/api/v1/{path}"), 404) == {"detail": "Not found.", "code": "not_found"}


def test_method_not_allowed(admin_api: APIClient) -> None:
    assert _error(admin_api.delete("/api/v1/events/"), 405)["code"] == "method_not_allowed"


def test_invalid_token(client_for: Any) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert _error(client.get("/api/v1/users/"), 401)["code"] == "authentication_failed"


def test_unique_race_is_a_409(admin_api: APIClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation saw no duplicate, but another request committed the same name first."""

    def lose_the_race(**fields: Any) -> User:
        raise IntegrityError("UNIQUE constraint failed: directory_user.username")

    monkeypatch.setattr(directory_views.UserViewSet, "create_service", staticmethod(lose_the_race))
    response = admin_api.post("/api/v1/users/", {"username": "dup", "email": "dup@x.com"}, format="json")
    assert _error(response, 409)["code"] == "conflict"


def test_duplicates_found_by_validation_are_field_errors(admin_api: APIClient, objects: dict[str, Any]) -> None:
    response = admin_api.post("/api/v1/users/", {"username": "ann", "email": "ann@example.com"}, format="json")
    assert set(_error(response, 400)["errors"]) == {"username", "email"}
