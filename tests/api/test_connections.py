"""``/api/v1/connections/``: CRUD by an Administrator, the secret write-only in every response,
who may look and who may change, and 400s that name the field."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from directory.models import Connection

pytestmark = pytest.mark.django_db

URL = "/api/v1/connections/"
SECRET = "very-secret-api-token"


def _detail(pk: int) -> str:
    return f"{URL}{pk}/"


def test_administrator_creates_reads_updates_and_deletes(admin_api: APIClient) -> None:
    created = admin_api.post(
        URL,
        {
            "name": "Tickets",
            "description": "Service desk",
            "base_url": "https://tickets.example.com/api",
            "auth_type": "api_key_header",
            "header_name": "X-Tickets-Key",
            "secret": SECRET,
            "timeout_seconds": 15,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Tickets"
    assert (body["auth_type"], body["header_name"], body["timeout_seconds"]) == ("api_key_header", "X-Tickets-Key", 15)
    assert body["verify_tls"] is True and body["has_secret"] is True
    assert {"id", "created_at", "updated_at", "username", "description", "base_url"} <= set(body)
    pk = body["id"]
    assert Connection.objects.get(pk=pk).secret == SECRET

    assert admin_api.get(_detail(pk)).json()["name"] == "Tickets"
    listed = admin_api.get(URL, {"auth_type": "api_key_header"}).json()
    assert [c["id"] for c in listed["results"]] == [pk]
    assert admin_api.get(URL, {"auth_type": "basic"}).json()["count"] == 0

    patched = admin_api.patch(_detail(pk), {"verify_tls": False, "timeout_seconds": 60}, format="json")
    assert patched.status_code == 200, patched.content
    assert (patched.json()["verify_tls"], patched.json()["timeout_seconds"]) == (False, 60)
    assert patched.json()["has_secret"] is True  # omitted: kept

    replaced = admin_api.put(
        _detail(pk),
        {"name": "Tickets", "base_url": "https://tickets.example.com/v2", "auth_type": "none"},
        format="json",
    )
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["base_url"] == "https://tickets.example.com/v2"
    assert Connection.objects.get(pk=pk).secret == SECRET

    assert admin_api.delete(_detail(pk)).status_code == 204
    assert not Connection.objects.filter(pk=pk).exists()
    assert admin_api.get(_detail(pk)).status_code == 404


def test_null_keeps_the_secret_and_empty_clears_it(admin_api: APIClient, objects: dict[str, Any]) -> None:
    conn = objects["connection"]
    kept = admin_api.patch(_detail(conn.pk), {"secret": None, "description": "HR"}, format="json")
    assert kept.status_code == 200, kept.content
    assert kept.json()["has_secret"] is True
    conn.refresh_from_db()
    assert conn.secret == "hr-token-secret"

    cleared = admin_api.patch(_detail(conn.pk), {"secret": "", "auth_type": "none"}, format="json")
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["has_secret"] is False
    conn.refresh_from_db()
    assert conn.secret == ""


def test_the_secret_never_appears_in_any_response(admin_api: APIClient, objects: dict[str, Any]) -> None:
    created = admin_api.post(
        URL,
        {
            "name": "Payroll",
            "base_url": "https://payroll.example.com",
            "auth_type": "basic",
            "username": "svc",
            "secret": SECRET,
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    updated = admin_api.patch(_detail(pk), {"name": "Payroll 2", "secret": SECRET + "-2"}, format="json")
    assert updated.status_code == 200, updated.content
    bodies = [created, updated]
    for path in (URL, _detail(pk), _detail(objects["connection"].pk), "/api/v1/events/?limit=500"):
        response = admin_api.get(path)
        assert response.status_code == 200
        bodies.append(response)
    assert admin_api.delete(_detail(pk)).status_code == 204
    bodies.append(admin_api.get("/api/v1/events/?limit=500"))
    for response in bodies:
        text = response.content.decode()
        assert "very-secret" not in text and "hr-token-secret" not in text and "fernet:" not in text
    for response in (created, updated):
        assert "secret" not in response.json()


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"name": "X", "base_url": "not a url"}, {"base_url"}),
        ({"name": "X", "base_url": "ftp://files.example.com"}, {"base_url"}),
        ({"name": "X", "base_url": "https://x.example.com", "auth_type": "oauth"}, {"auth_type"}),
        ({"name": "X", "base_url": "https://x.example.com", "auth_type": "bearer"}, {"secret"}),
        ({"name": "X", "base_url": "https://x.example.com", "auth_type": "basic", "secret": "pw"}, {"username"}),
        (
            {"name": "X", "base_url": "https://x.example.com", "auth_type": "api_key_header", "secret": "k"},
            set(),  # the default header name is valid
        ),
        (
            {
                "name": "X",
                "base_url": "https://x.example.com",
                "auth_type": "api_key_header",
                "secret": "k",
                "header_name": "Bad Header",
            },
            {"header_name"},
        ),
        ({"name": "X", "base_url": "https://x.example.com", "timeout_seconds": 0}, {"timeout_seconds"}),
        ({"name": "X", "base_url": "https://x.example.com", "timeout_seconds": 301}, {"timeout_seconds"}),
        ({"name": "X", "base_url": "https://x.example.com", "timeout_seconds": 10**30}, {"timeout_seconds"}),
        ({"name": "X", "base_url": "https://x.example.com", "verify_tls": "perhaps"}, {"verify_tls"}),
        ({"name": "HR API", "base_url": "https://x.example.com"}, {"name"}),
        ({"base_url": "https://x.example.com"}, {"name"}),
    ],
)
def test_bad_input_is_a_400_naming_the_field(
    admin_api: APIClient, objects: dict[str, Any], body: dict[str, Any], fields: set[str]
) -> None:
    response = admin_api.post(URL, body, format="json")
    if not fields:
        assert response.status_code == 201, response.content
        return
    assert response.status_code == 400, response.content
    assert set(response.json()["errors"]) == fields
    assert Connection.objects.count() == 1  # only the fixture's


def test_an_update_that_breaks_the_rules_is_a_400_and_changes_nothing(
    admin_api: APIClient, objects: dict[str, Any]
) -> None:
    conn = objects["connection"]
    response = admin_api.patch(_detail(conn.pk), {"auth_type": "basic", "description": "x"}, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"username"}
    conn.refresh_from_db()
    assert (conn.auth_type, conn.description) == ("bearer", "")


def test_read_only_may_list_but_not_create(client_for: Any, read_only_admin: Any, objects: dict[str, Any]) -> None:
    api = client_for(read_only_admin)
    listed = api.get(URL)
    assert listed.status_code == 200
    assert [c["name"] for c in listed.json()["results"]] == ["HR API"]
    assert "hr-token-secret" not in listed.content.decode()
    response = api.post(URL, {"name": "Sneaky", "base_url": "https://x.example.com"}, format="json")
    assert response.status_code == 403
    assert api.delete(_detail(objects["connection"].pk)).status_code == 403
    assert list(Connection.objects.values_list("name", flat=True)) == ["HR API"]


def test_help_desk_may_view_but_not_change(client_for: Any, help_desk_admin: Any, objects: dict[str, Any]) -> None:
    api = client_for(help_desk_admin)
    pk = objects["connection"].pk
    response = api.get(_detail(pk))
    assert response.status_code == 200
    assert response.json()["has_secret"] is True and "secret" not in response.json()
    assert api.patch(_detail(pk), {"description": "x"}, format="json").status_code == 403


def test_a_role_that_may_not_see_connections_gets_404_on_details(
    client_for: Any, make_admin: Any, objects: dict[str, Any]
) -> None:
    api = client_for(make_admin("runner", "command-runner"))
    assert api.get(URL).status_code == 403
    assert api.get(_detail(objects["connection"].pk)).status_code == 404
    assert api.get(_detail(10**6)).status_code == 404


def test_anonymous_gets_401(client_for: Any, objects: dict[str, Any]) -> None:
    api = client_for(None)
    for response in (
        api.get(URL),
        api.get(_detail(objects["connection"].pk)),
        api.post(URL, {"name": "A", "base_url": "https://a.example.com"}, format="json"),
    ):
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
