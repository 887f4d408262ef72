"""Connections: validation with field errors, the secret encrypted at rest and never shown back."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db
from django.urls import reverse

from directory import services
from directory.models import Connection
from directory.snapshots import snapshot

pytestmark = pytest.mark.django_db

TOKEN = "tok-s3cr3t-value-1234"


def _raw_secret(conn: Connection) -> str:
    with db.cursor() as cursor:
        cursor.execute("SELECT secret FROM directory_connection WHERE id = %s", [conn.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def hr_api(system) -> Connection:
    return services.connection_create(
        actor=system, name="HR API", base_url="https://hr.example.com/api", auth_type="bearer", secret=TOKEN
    )


# --- state -----------------------------------------------------------------------------------


def test_create_sets_the_fields_and_defaults(system):
    conn = services.connection_create(actor=system, name="Status page", base_url="http://status.lan")
    loaded = Connection.objects.get(pk=conn.pk)
    assert (loaded.name, loaded.base_url, loaded.auth_type) == ("Status page", "http://status.lan", "none")
    assert (loaded.header_name, loaded.verify_tls, loaded.timeout_seconds) == ("X-API-Key", True, 30)
    assert loaded.has_secret is False
    assert _raw_secret(conn) == ""  # no secret: nothing stored


@pytest.mark.parametrize(
    "fields",
    [
        {"auth_type": "bearer", "secret": TOKEN},
        {"auth_type": "basic", "username": "svc-keyflow", "secret": "pa55word"},
        {"auth_type": "api_key_header", "header_name": "X-Auth-Token", "secret": TOKEN},
    ],
    ids=["bearer", "basic", "api_key_header"],
)
def test_each_auth_type_with_its_credentials_is_accepted(system, fields):
    conn = services.connection_create(actor=system, name="Svc", base_url="https://svc.example.com", **fields)
    loaded = Connection.objects.get(pk=conn.pk)
    for name, value in fields.items():
        assert getattr(loaded, name) == value
    assert loaded.has_secret


def test_update_changes_fields_and_delete_removes(hr_api, system):
    services.connection_update(connection=hr_api, actor=system, verify_tls=False, timeout_seconds=120)
    loaded = Connection.objects.get(pk=hr_api.pk)
    assert (loaded.verify_tls, loaded.timeout_seconds, loaded.secret) == (False, 120, TOKEN)
    services.connection_delete(connection=hr_api, actor=system)
    assert not Connection.objects.filter(pk=hr_api.pk).exists()


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "bad_fields"),
    [
        ({"base_url": "hr.example.com/api"}, {"base_url"}),
        ({"base_url": "ftp://files.example.com"}, {"base_url"}),
        ({"base_url": "javascript:alert(1)"}, {"base_url"}),
        ({"auth_type": "oauth"}, {"auth_type"}),
        ({"auth_type": "bearer"}, {"secret"}),
        ({"auth_type": "basic", "secret": "pw"}, {"username"}),
        ({"auth_type": "basic", "username": "svc"}, {"secret"}),
        ({"auth_type": "basic"}, {"username", "secret"}),
        ({"auth_type": "api_key_header"}, {"secret"}),
        ({"auth_type": "api_key_header", "secret": TOKEN, "header_name": ""}, {"header_name"}),
        ({"auth_type": "api_key_header", "secret": TOKEN, "header_name": "X Api Key"}, {"header_name"}),
        ({"auth_type": "api_key_header", "secret": TOKEN, "header_name": "X-Key:"}, {"header_name"}),
        ({"auth_type": "api_key_header", "secret": TOKEN, "header_name": "X-Key\n"}, {"header_name"}),
        ({"timeout_seconds": 0}, {"timeout_seconds"}),
        ({"timeout_seconds": 301}, {"timeout_seconds"}),
        ({"created_at": "2020-01-01"}, {"created_at"}),  # not settable
    ],
)
def test_invalid_connections_are_field_errors(system, fields, bad_fields):
    fields = {"base_url": "https://api.example.com", **fields}
    with pytest.raises(ValidationError) as caught:
        services.connection_create(actor=system, name="Bad", **fields)
    assert set(caught.value.message_dict) == bad_fields
    assert not Connection.objects.exists()


def test_names_are_unique(hr_api, system):
    with pytest.raises(ValidationError) as caught:
        services.connection_create(actor=system, name="HR API", base_url="https://other.example.com")
    assert set(caught.value.message_dict) == {"name"}
    assert Connection.objects.count() == 1


def test_a_header_name_is_only_required_for_api_keys(system):
    conn = services.connection_create(actor=system, name="Open", base_url="https://api.example.com", header_name="")
    assert Connection.objects.get(pk=conn.pk).header_name == ""


def test_a_failed_update_changes_nothing(hr_api, system):
    with pytest.raises(ValidationError) as caught:
        services.connection_update(connection=hr_api, actor=system, description="x", auth_type="basic")
    assert set(caught.value.message_dict) == {"username"}
    loaded = Connection.objects.get(pk=hr_api.pk)
    assert (loaded.description, loaded.auth_type) == ("", "bearer")


# --- the secret: encrypted at rest, kept unless replaced or cleared --------------------------


def test_secret_is_encrypted_in_the_database_and_decrypted_on_load(hr_api):
    stored = _raw_secret(hr_api)
    assert stored.startswith("fernet:")
    assert TOKEN not in stored and "s3cr3t" not in stored
    assert Connection.objects.get(pk=hr_api.pk).secret == TOKEN


@pytest.mark.parametrize("fields", [{}, {"secret": None}], ids=["left-out", "none"])
def test_update_without_a_secret_keeps_the_stored_one(hr_api, system, fields):
    services.connection_update(connection=hr_api, actor=system, description="People data", **fields)
    loaded = Connection.objects.get(pk=hr_api.pk)
    assert (loaded.description, loaded.secret) == ("People data", TOKEN)
    assert _raw_secret(hr_api).startswith("fernet:")


def test_update_replaces_the_secret(hr_api, system):
    services.connection_update(connection=hr_api, actor=system, secret=TOKEN + "-rotated")
    assert Connection.objects.get(pk=hr_api.pk).secret == TOKEN + "-rotated"


def test_empty_secret_clears_it_when_the_auth_type_allows(hr_api, system):
    with pytest.raises(ValidationError) as caught:
        services.connection_update(connection=hr_api, actor=system, secret="")
    assert set(caught.value.message_dict) == {"secret"}
    assert Connection.objects.get(pk=hr_api.pk).secret == TOKEN

    services.connection_update(connection=hr_api, actor=system, auth_type="none", secret="")
    loaded = Connection.objects.get(pk=hr_api.pk)
    assert (loaded.auth_type, loaded.has_secret) == ("none", False)
    assert _raw_secret(hr_api) == ""


def test_the_secret_stays_out_of_snapshots(hr_api):
    """Snapshots feed the event log and workflow expressions: they say only whether one is set."""
    data = snapshot(Connection.objects.get(pk=hr_api.pk))
    assert "secret" not in data and data["has_secret"] is True
    assert data["base_url"] == "https://hr.example.com/api"
    assert TOKEN not in str(data)


# --- the admin never shows the secret --------------------------------------------------------


def _change_url(conn: Connection) -> str:
    return reverse("admin:directory_connection_change", args=[conn.pk])


def _post_data(conn: Connection, **overrides: str) -> dict[str, str]:
    data = {
        "name": conn.name,
        "description": conn.description,
        "base_url": conn.base_url,
        "auth_type": conn.auth_type,
        "username": conn.username,
        "secret": "",
        "header_name": conn.header_name,
        "verify_tls": "on",
        "timeout_seconds": str(conn.timeout_seconds),
    }
    data.update(overrides)
    return data


def test_change_form_does_not_render_the_secret(client, billing_admin, hr_api):
    client.force_login(billing_admin)
    response = client.get(_change_url(hr_api))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="secret"' in html and 'type="password"' in html
    assert TOKEN not in html and "s3cr3t" not in html and "fernet:" not in html


def test_change_form_blank_secret_keeps_it_and_a_new_one_replaces_it(client, billing_admin, hr_api):
    client.force_login(billing_admin)

    response = client.post(_change_url(hr_api), _post_data(hr_api, description="People data"))
    assert response.status_code == 302, response.content.decode()[:2000]
    loaded = Connection.objects.get(pk=hr_api.pk)
    assert (loaded.description, loaded.secret) == ("People data", TOKEN)

    response = client.post(_change_url(hr_api), _post_data(hr_api, secret="new-token"))
    assert response.status_code == 302
    assert Connection.objects.get(pk=hr_api.pk).secret == "new-token"
    assert "new-token" not in client.get(_change_url(hr_api)).content.decode()


def test_add_form_shows_connection_rule_errors_instead_of_failing(client, billing_admin):
    client.force_login(billing_admin)
    data = _post_data(Connection(name="Basic", base_url="https://api.example.com", auth_type="basic"))
    response = client.post(reverse("admin:directory_connection_add"), data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Basic authentication needs a user name." in html
    assert "This authentication type needs a password." in html
    assert not Connection.objects.exists()


def test_add_form_stores_the_secret_encrypted(client, billing_admin):
    client.force_login(billing_admin)
    data = _post_data(
        Connection(name="Tickets", base_url="https://tickets.example.com", auth_type="api_key_header"), secret=TOKEN
    )
    response = client.post(reverse("admin:directory_connection_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    conn = Connection.objects.get(name="Tickets")
    assert (conn.secret, conn.header_name) == (TOKEN, "X-API-Key")
    assert _raw_secret(conn).startswith("fernet:")


def test_manager_may_view_but_not_change_connections(client, manager_admin, hr_api):
    client.force_login(manager_admin)
    assert client.get(reverse("admin:directory_connection_changelist")).status_code == 200
    assert client.get(reverse("admin:directory_connection_add")).status_code == 403
    response = client.post(_change_url(hr_api), _post_data(hr_api, description="nope"))
    assert response.status_code == 403
    assert Connection.objects.get(pk=hr_api.pk).description == ""
