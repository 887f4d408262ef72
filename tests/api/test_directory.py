"""Directory endpoints: writes through services (events say api_token), secrets write-only,
membership and bindings, pagination, filters and ordering."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from directory.choices import ActorType
from directory.models import AdminRole, DirectoryEvent, NotificationChannel, User

pytestmark = pytest.mark.django_db


def test_create_user_records_an_api_token_event(admin_api: APIClient, administrator: Any) -> None:
    response = admin_api.post(
        "/api/v1/users/",
        {"username": "cy", "email": "cy@example.com", "department": "Engineering", "attributes": {"github": "cy"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "staged"
    assert body["attributes"] == {"github": "cy"}
    event = DirectoryEvent.objects.get(type="user.created", resource_id=str(body["id"]))
    assert (event.actor_type, event.actor_name) == (ActorType.API_TOKEN, administrator.username)


def test_session_writes_are_recorded_as_the_admin(administrator: Any) -> None:
    client = APIClient()
    client.force_login(administrator)
    response = client.post("/api/v1/user-groups/", {"name": "Eng"}, format="json")
    assert response.status_code == 201
    event = DirectoryEvent.objects.get(type="user_group.created")
    assert event.actor_type == ActorType.ADMIN


def test_update_merges_attributes_and_changes_state(admin_api: APIClient, objects: dict[str, Any]) -> None:
    user = objects["user"]
    admin_api.patch(f"/api/v1/users/{user.pk}/", {"attributes": {"a": 1, "b": 2}}, format="json")
    response = admin_api.patch(
        f"/api/v1/users/{user.pk}/", {"attributes": {"a": None, "c": 3}, "state": "active"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["attributes"] == {"b": 2, "c": 3}
    assert response.json()["state"] == "active"
    assert DirectoryEvent.objects.filter(type="user.activated", resource_id=str(user.pk)).exists()


def test_state_transition_rules_are_a_400(admin_api: APIClient, objects: dict[str, Any]) -> None:
    user = objects["user"]
    admin_api.patch(f"/api/v1/users/{user.pk}/", {"state": "active"}, format="json")
    response = admin_api.patch(f"/api/v1/users/{user.pk}/", {"state": "staged"}, format="json")
    assert response.status_code == 400
    assert "state" in response.json()["errors"]


def test_user_groups_listed_with_the_user(admin_api: APIClient, objects: dict[str, Any]) -> None:
    body = admin_api.get(f"/api/v1/users/{objects['user'].pk}/").json()
    assert body["groups"] == [objects["group"].pk]


def test_group_membership(admin_api: APIClient, objects: dict[str, Any]) -> None:
    group, bob = objects["group"], objects["other_user"]
    url = f"/api/v1/user-groups/{group.pk}/members/"
    assert admin_api.post(url, {"user": bob.pk}, format="json").json() == {"changed": True}
    again = admin_api.post(url, {"user": bob.pk}, format="json")
    assert (again.status_code, again.json()) == (200, {"changed": False})
    members = admin_api.get(url).json()
    assert members["count"] == 2
    assert [m["username"] for m in members["results"]] == ["ann", "bob"]
    assert admin_api.get(f"/api/v1/user-groups/{group.pk}/").json()["member_count"] == 2
    assert admin_api.delete(f"{url}{bob.pk}/").status_code == 204
    assert admin_api.delete(f"{url}999999/").status_code == 404
    assert admin_api.delete(f"{url}not-a-number/").status_code == 404
    assert list(group.members.values_list("username", flat=True)) == ["ann"]


def test_device_group_membership(admin_api: APIClient, objects: dict[str, Any]) -> None:
    device_group, device = objects["device_group"], objects["other_device"]
    url = f"/api/v1/device-groups/{device_group.pk}/members/"
    assert admin_api.post(url, {"device": device.pk}, format="json").status_code == 201
    assert admin_api.get(url).json()["count"] == 2
    assert admin_api.delete(f"{url}{device.pk}/").status_code == 204
    assert admin_api.get(url).json()["count"] == 1


def test_policy_bind_and_unbind(admin_api: APIClient, objects: dict[str, Any]) -> None:
    policy, device_group = objects["policy"], objects["device_group"]
    url = f"/api/v1/policies/{policy.pk}/"
    assert admin_api.post(url + "bind/", {"device_group": device_group.pk}, format="json").json() == {"changed": True}
    assert admin_api.get(url).json()["device_groups"] == [device_group.pk]
    assert DirectoryEvent.objects.filter(type="policy.bound").count() == 1
    both = admin_api.post(url + "bind/", {"device_group": device_group.pk, "device": 1}, format="json")
    assert both.status_code == 400
    assert admin_api.post(url + "unbind/", {"device_group": device_group.pk}, format="json").json() == {"changed": True}


def test_command_run_request(admin_api: APIClient, objects: dict[str, Any]) -> None:
    response = admin_api.post(
        "/api/v1/command-runs/", {"command": objects["command"].pk, "device": objects["device"].pk}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    assert response.json()["requested_by"].startswith("api_token:")


def test_command_run_on_inactive_device_is_a_400(admin_api: APIClient, objects: dict[str, Any]) -> None:
    device = objects["device"]
    admin_api.patch(f"/api/v1/devices/{device.pk}/", {"active": False}, format="json")
    response = admin_api.post(
        "/api/v1/command-runs/", {"command": objects["command"].pk, "device": device.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"device": [f"Device {device.hostname} is not active."]}


class TestChannelSecrets:
    """Webhook URLs and signing keys go in and never come out."""

    def test_never_returned(self, admin_api: APIClient) -> None:
        secret = "https://hooks.slack.com/services/T1/B1/very-secret"
        created = admin_api.post(
            "/api/v1/notification-channels/",
            {"name": "Alerts", "kind": "slack", "webhook_url": secret, "signing_key": "k3y"},
            format="json",
        )
        assert created.status_code == 201, created.content
        for response in (created, admin_api.get(f"/api/v1/notification-channels/{created.json()['id']}/")):
            body = response.json()
            assert "webhook_url" not in body and "signing_key" not in body
            assert body["has_webhook_url"] is True and body["has_signing_key"] is True
            assert secret not in response.content.decode()
        listed = admin_api.get("/api/v1/notification-channels/").content.decode()
        assert secret not in listed and "k3y" not in listed

    def test_omitted_secret_is_kept_and_empty_clears(self, admin_api: APIClient, objects: dict[str, Any]) -> None:
        channel = objects["channel"]
        url = f"/api/v1/notification-channels/{channel.pk}/"
        assert admin_api.patch(url, {"description": "Team chat"}, format="json").json()["has_webhook_url"]
        assert (
            admin_api.put(url, {"name": "IT", "kind": "slack", "webhook_url": None}, format="json").status_code == 200
        )
        channel.refresh_from_db()
        assert channel.webhook_url.endswith("/secret")
        response = admin_api.patch(url, {"webhook_url": "", "kind": "email", "recipients": ["it@x.com"]}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["has_webhook_url"] is False

    def test_channel_rules_are_field_errors(self, admin_api: APIClient) -> None:
        response = admin_api.post(
            "/api/v1/notification-channels/",
            {"name": "Bad", "kind": "email", "recipients": ["ok@x.com", "not-an-address"]},
            format="json",
        )
        assert response.status_code == 400
        assert list(response.json()["errors"]) == ["recipients[1]"]
        response = admin_api.post(
            "/api/v1/notification-channels/",
            {"name": "Hook", "kind": "teams", "webhook_url": "http://insecure.example.com/x"},
            format="json",
        )
        assert response.status_code == 400
        assert "webhook_url" in response.json()["errors"]
        assert not NotificationChannel.objects.filter(name__in=["Bad", "Hook"]).exists()


def test_custom_role_from_a_builtin_role(client_for: Any, billing_admin: Any) -> None:
    client = client_for(billing_admin)
    help_desk = AdminRole.objects.get(key="help-desk")
    response = client.post(
        "/api/v1/roles/", {"name": "Sales help desk", "based_on": help_desk.pk, "description": "d"}, format="json"
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["key"] == "sales-help-desk" and body["is_builtin"] is False
    assert "directory.change_user" in body["permissions"]
    duplicate = client.post("/api/v1/roles/", {"name": "Sales help desk"}, format="json")
    assert duplicate.status_code == 400
    assert "name" in duplicate.json()["errors"]
    custom = AdminRole.objects.get(key="sales-help-desk")
    from_custom = client.post("/api/v1/roles/", {"name": "Copy", "based_on": custom.pk}, format="json")
    assert from_custom.status_code == 400
    assert "based_on" in from_custom.json()["errors"]


class TestListing:
    """limit/offset with a total, filters, ordering."""

    @pytest.fixture
    def many_users(self, administrator: Any) -> None:
        from directory import services

        for index in range(7):
            services.user_create(
                actor=administrator,
                username=f"user{index}",
                email=f"user{index}@example.com",
                department="Sales" if index % 2 else "Engineering",
            )

    def test_limit_offset_and_total(self, admin_api: APIClient, many_users: None) -> None:
        page = admin_api.get("/api/v1/users/?limit=3&offset=3").json()
        assert page["count"] == 7
        assert [u["username"] for u in page["results"]] == ["user3", "user4", "user5"]
        assert "offset=6" in page["next"]
        assert "limit=3" in page["previous"] and "offset" not in page["previous"]  # the first page

    def test_limit_is_capped(self, admin_api: APIClient, many_users: None) -> None:
        page = admin_api.get(f"/api/v1/users/?limit={10**30}&offset={10**30}").json()
        assert page["count"] == 7 and page["results"] == []

    def test_filters_and_ordering(self, admin_api: APIClient, many_users: None) -> None:
        page = admin_api.get("/api/v1/users/?department=sales&ordering=-username").json()
        assert [u["username"] for u in page["results"]] == ["user5", "user3", "user1"]
        assert admin_api.get("/api/v1/users/?search=user6").json()["count"] == 1

    def test_bad_filter_value_is_a_400(self, admin_api: APIClient) -> None:
        response = admin_api.get("/api/v1/users/?state=gone")
        assert response.status_code == 400
        assert "state" in response.json()["errors"]
        assert admin_api.get(f"/api/v1/users/?manager={10**30}").status_code == 400

    def test_events_by_type_actor_and_time(self, admin_api: APIClient, objects: dict[str, Any]) -> None:
        admin_api.post("/api/v1/users/", {"username": "viaapi", "email": "viaapi@x.com"}, format="json")
        by_actor = admin_api.get("/api/v1/events/?actor_type=api_token").json()
        assert [e["resource_name"] for e in by_actor["results"]] == ["viaapi@x.com"]
        created = admin_api.get("/api/v1/events/?type=user.created&ordering=occurred_at").json()
        assert [e["resource_name"] for e in created["results"]] == [
            "ann@example.com",
            "bob@example.com",
            "viaapi@x.com",
        ]
        assert admin_api.get("/api/v1/events/?occurred_after=2999-01-01T00:00:00Z").json()["count"] == 0
        assert admin_api.get("/api/v1/events/?occurred_after=yesterday").status_code == 400
        resource = objects["user"]
        by_resource = admin_api.get(f"/api/v1/events/?resource_type=user&resource_id={resource.pk}").json()
        assert {e["type"] for e in by_resource["results"]} >= {"user.created"}


def test_deleting_a_user(admin_api: APIClient, objects: dict[str, Any]) -> None:
    user = objects["other_user"]
    assert admin_api.delete(f"/api/v1/users/{user.pk}/").status_code == 204
    assert not User.objects.filter(pk=user.pk).exists()
    assert admin_api.get(f"/api/v1/users/{user.pk}/").status_code == 404
    assert DirectoryEvent.objects.filter(type="user.deleted", resource_id=str(user.pk)).exists()


@pytest.mark.parametrize(("state", "status"), [("active", 403), ("suspended", 403), ("staged", 201)])
def test_creating_a_user_in_a_state_needs_the_state_permission(
    client_for: Any, help_desk_admin: Any, state: str, status: int
) -> None:
    """Help Desk may create users but not activate or suspend them: creating a user straight
    into ``active`` or ``suspended`` is that, as the admin's add form (state read-only) agrees."""
    body = {"username": "cy", "email": "cy@example.com", "state": state}
    response = client_for(help_desk_admin).post("/api/v1/users/", body, format="json")
    assert response.status_code == status, response.content
    assert User.objects.filter(username="cy").exists() == (status == 201)


def test_administrator_may_create_an_active_user(admin_api: APIClient) -> None:
    body = {"username": "cy", "email": "cy@example.com", "state": "active"}
    response = admin_api.post("/api/v1/users/", body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "active"
