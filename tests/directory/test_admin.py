"""The Django admin writes the same events as the services, attributed to the signed-in admin."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from directory import services
from directory.models import (
    AdminAccount,
    AdminRole,
    Command,
    CommandRun,
    Device,
    DeviceGroup,
    DirectoryEvent,
    NotificationChannel,
    Policy,
    User,
    UserGroup,
)
from tests.directory.helpers import events_after, last_event_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, billing_admin: Any) -> Client:
    """Signed in as an Administrator with Billing (permissions through the role, not superuser)."""
    client.force_login(billing_admin)
    return client


def _user_form(user: User | None = None, **overrides: Any) -> dict[str, Any]:
    """What the user form posts: every editable field, as the browser sends it."""
    data: dict[str, Any] = {
        "username": "",
        "email": "",
        "first_name": "",
        "last_name": "",
        "state": "staged",
        "department": "",
        "job_title": "",
        "employee_type": "employee",
        "location": "",
        "manager": "",
        "employee_id": "",
        "hire_date": "",
        "termination_date": "",
        "last_login_at_0": "",
        "last_login_at_1": "",
        "attributes": "{}",
    }
    if user is not None:
        for name in ("username", "email", "first_name", "last_name", "state", "department", "job_title"):
            data[name] = getattr(user, name)
        data["employee_type"] = user.employee_type
        data["manager"] = user.manager_id or ""
        data["attributes"] = json.dumps(user.attributes)
        for flag in ("mfa_enrolled", "account_locked", "password_expired"):
            if getattr(user, flag):
                data[flag] = "on"
    data.update(overrides)
    return data


def _assert_by_admin(found: list[DirectoryEvent], admin: Any) -> None:
    assert found, "expected events"
    assert {(e.actor_type, e.actor_id, e.actor_name) for e in found} == {("admin", str(admin.pk), admin.username)}


# --- users -----------------------------------------------------------------------------------


def test_add_user_form_writes_created_by_the_admin(admin_client, billing_admin):
    response = admin_client.post(
        reverse("admin:directory_user_add"),
        _user_form(username="ann", email="ann@example.com", department="Sales", hire_date="2025-02-03"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user = User.objects.get(username="ann")
    assert (user.department, user.hire_date) == ("Sales", dt.date(2025, 2, 3))
    [event] = DirectoryEvent.objects.all()
    assert (event.type, event.resource_id) == ("user.created", str(user.pk))
    _assert_by_admin([event], billing_admin)


def test_change_user_form_writes_updated_with_only_the_edited_fields(admin_client, billing_admin, make_user):
    user = make_user("ann", department="Sales", attributes={"badge": "B-1", "shirt": "M"})
    mark = last_event_id()

    response = admin_client.post(
        reverse("admin:directory_user_change", args=[user.pk]),
        _user_form(user, job_title="AE", attributes='{"badge": "B-1"}'),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert user.attributes == {"badge": "B-1"}  # a key removed in the form is removed
    [event] = events_after(mark)
    assert event.type == "user.updated"
    assert event.changes == [
        {"field": "job_title", "from": "", "to": "AE"},
        {"field": "attributes", "from": {"badge": "B-1", "shirt": "M"}, "to": {"badge": "B-1"}},
    ]
    _assert_by_admin([event], billing_admin)


def test_change_user_form_shows_an_illegal_transition_as_a_form_error(admin_client, make_user):
    user = make_user("ann", state="active")
    mark = last_event_id()
    response = admin_client.post(
        reverse("admin:directory_user_change", args=[user.pk]), _user_form(user, state="staged")
    )
    assert response.status_code == 200
    assert "A user who is active cannot become staged." in response.content.decode()
    assert User.objects.get(pk=user.pk).state == "active"
    assert events_after(mark) == []


def test_state_change_through_the_form_writes_the_specific_event(admin_client, billing_admin, make_user):
    user = make_user("ann", state="active")
    mark = last_event_id()
    response = admin_client.post(
        reverse("admin:directory_user_change", args=[user.pk]), _user_form(user, state="suspended")
    )
    assert response.status_code == 302
    [event] = events_after(mark)
    assert (event.type, event.changes) == ("user.suspended", [{"field": "state", "from": "active", "to": "suspended"}])
    _assert_by_admin([event], billing_admin)


def test_bulk_suspend_action_writes_one_event_per_changed_user(admin_client, billing_admin, make_user):
    ann, bo = make_user("ann", state="active"), make_user("bo", state="active")
    already = make_user("cy", state="suspended")
    mark = last_event_id()

    response = admin_client.post(
        reverse("admin:directory_user_changelist"),
        {"action": "suspend", "_selected_action": [ann.pk, bo.pk, already.pk]},
    )

    assert response.status_code == 302
    assert set(User.objects.values_list("state", flat=True)) == {"suspended"}
    found = events_after(mark)
    assert sorted((e.type, e.resource_name) for e in found) == [
        ("user.suspended", "ann@example.com"),
        ("user.suspended", "bo@example.com"),
    ]
    _assert_by_admin(found, billing_admin)


def test_delete_user_in_the_admin_writes_deleted(admin_client, billing_admin, make_user):
    user = make_user("ann")
    mark = last_event_id()
    response = admin_client.post(reverse("admin:directory_user_delete", args=[user.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    [event] = events_after(mark)
    assert (event.type, event.snapshot["username"]) == ("user.deleted", "ann")
    _assert_by_admin([event], billing_admin)


def test_help_desk_can_edit_but_not_suspend_through_the_admin(client, help_desk_admin, make_user):
    user = make_user("ann", state="active")
    client.force_login(help_desk_admin)
    mark = last_event_id()

    changelist = client.get(reverse("admin:directory_user_changelist"))
    actions = [value for value, _ in changelist.context["action_form"].fields["action"].choices]
    assert "lock" in actions and "unlock" in actions
    assert "suspend" not in actions and "activate" not in actions

    # The state field is read-only for them, so posting one changes nothing.
    response = client.post(
        reverse("admin:directory_user_change", args=[user.pk]), _user_form(user, state="suspended", job_title="AE")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    user.refresh_from_db()
    assert (user.state, user.job_title) == ("active", "AE")
    assert [e.type for e in events_after(mark)] == ["user.updated"]

    client.post(reverse("admin:directory_user_changelist"), {"action": "suspend", "_selected_action": [user.pk]})
    assert User.objects.get(pk=user.pk).state == "active"

    # Nor can they create someone already active: new users start staged.
    response = client.post(
        reverse("admin:directory_user_add"), _user_form(username="new", email="new@example.com", state="active")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert User.objects.get(username="new").state == "staged"
    created = DirectoryEvent.objects.get(type="user.created", resource_name="new@example.com")
    assert created.actor_name == help_desk_admin.username


# --- membership widgets ----------------------------------------------------------------------


def test_group_members_widget_writes_member_events_by_the_admin(admin_client, billing_admin, make_user, system):
    ann, bo, cy = make_user("ann"), make_user("bo"), make_user("cy")
    group = services.group_create(actor=system, name="Sales")
    services.group_add_member(group=group, user=ann, actor=system)
    services.group_add_member(group=group, user=bo, actor=system)
    mark = last_event_id()

    response = admin_client.post(
        reverse("admin:directory_usergroup_change", args=[group.pk]),
        {"name": "Sales", "description": "", "attributes": "{}", "members": [bo.pk, cy.pk]},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert set(group.members.all()) == {bo, cy}
    found = events_after(mark)
    assert sorted((e.type, e.related_name) for e in found) == [
        ("user_group.member_added", "cy@example.com"),
        ("user_group.member_removed", "ann@example.com"),
    ]
    _assert_by_admin(found, billing_admin)


def test_adding_a_group_with_members_writes_created_then_member_added(admin_client, billing_admin, make_user):
    ann = make_user("ann")
    mark = last_event_id()
    response = admin_client.post(
        reverse("admin:directory_usergroup_add"),
        {"name": "VPN Users", "description": "", "attributes": "{}", "members": [ann.pk]},
    )
    assert response.status_code == 302
    found = events_after(mark)
    assert [(e.type, e.resource_name) for e in found] == [
        ("user_group.created", "VPN Users"),
        ("user_group.member_added", "VPN Users"),
    ]
    _assert_by_admin(found, billing_admin)


def test_device_group_members_widget_writes_member_events(admin_client, billing_admin, make_device, system):
    old, new = make_device("old-01"), make_device("new-01")
    group = services.device_group_create(actor=system, name="Lab")
    services.device_group_add_member(device_group=group, device=old, actor=system)
    mark = last_event_id()

    response = admin_client.post(
        reverse("admin:directory_devicegroup_change", args=[group.pk]),
        {"name": "Lab", "description": "", "members": [new.pk]},
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    assert list(DeviceGroup.objects.get(pk=group.pk).members.all()) == [new]
    found = events_after(mark)
    assert sorted((e.type, e.related_name) for e in found) == [
        ("device_group.member_added", "new-01"),
        ("device_group.member_removed", "old-01"),
    ]
    _assert_by_admin(found, billing_admin)


def test_policy_binding_widgets_write_bound_and_unbound(admin_client, billing_admin, make_device, system):
    device = make_device("build-01")
    lab, macs = (services.device_group_create(actor=system, name=n) for n in ("Lab", "macOS"))
    policy = services.policy_create(actor=system, name="Firewall", type="firewall")
    services.policy_bind(policy=policy, device_group=lab, actor=system)
    mark = last_event_id()

    response = admin_client.post(
        reverse("admin:directory_policy_change", args=[policy.pk]),
        {
            "name": "Firewall",
            "type": "firewall",
            "description": "",
            "settings": "{}",
            "devices": [device.pk],
            "device_groups": [macs.pk],
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    policy = Policy.objects.get(pk=policy.pk)
    assert (list(policy.devices.all()), list(policy.device_groups.all())) == ([device], [macs])
    found = events_after(mark)
    assert sorted((e.type, e.related_type, e.related_name) for e in found) == [
        ("policy.bound", "device", "build-01"),
        ("policy.bound", "device_group", "macOS"),
        ("policy.unbound", "device_group", "Lab"),
    ]
    _assert_by_admin(found, billing_admin)


def test_device_form_edits_write_device_updated(admin_client, billing_admin, make_device):
    device = make_device("build-01", attributes={"rack": "A1"})
    mark = last_event_id()
    response = admin_client.post(
        reverse("admin:directory_device_change", args=[device.pk]),
        {
            "hostname": "build-01",
            "display_name": "",
            "os_family": "linux",
            "os_version": "",
            "serial_number": "",
            "owner": "",
            "last_contact_at_0": "",
            "last_contact_at_1": "",
            "firewall_enabled": "on",
            "agent_version": "",
            "active": "on",
            "attributes": "{}",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Device.objects.get(pk=device.pk).attributes == {}
    [event] = events_after(mark)
    assert event.changes == [
        {"field": "firewall_enabled", "from": False, "to": True},
        {"field": "attributes", "from": {"rack": "A1"}, "to": {}},
    ]
    _assert_by_admin([event], billing_admin)


# --- the event log page ----------------------------------------------------------------------


@pytest.fixture
def mixed_log(make_user, administrator, system) -> dict[str, DirectoryEvent]:
    user = make_user("ann", state="active")  # system
    services.user_suspend(user=user, actor=administrator)  # admin
    services.group_create(actor=administrator, name="Sales")  # admin
    old = DirectoryEvent.objects.get(type="user.created")
    DirectoryEvent.objects.filter(pk=old.pk).update(occurred_at=timezone.now() - dt.timedelta(days=40))
    return {e.type: e for e in DirectoryEvent.objects.all()}


def _listed(client: Client, query: str) -> set[str]:
    response = client.get(reverse("admin:directory_directoryevent_changelist") + query)
    assert response.status_code == 200
    return {e.type for e in response.context["cl"].result_list}


def test_event_log_filters_by_type_resource_actor_and_date(admin_client, mixed_log):
    assert _listed(admin_client, "") == {"user.created", "user.suspended", "user_group.created"}
    assert _listed(admin_client, "?type=user.suspended") == {"user.suspended"}
    assert _listed(admin_client, "?resource_type=user_group") == {"user_group.created"}
    assert _listed(admin_client, "?actor_type=system") == {"user.created"}
    assert _listed(admin_client, "?actor_type=admin&resource_type=user") == {"user.suspended"}
    since = urlencode({"occurred_at__gte": str(timezone.now() - dt.timedelta(days=7))})  # as the filter links do
    assert _listed(admin_client, f"?{since}") == {"user.suspended", "user_group.created"}
    old = mixed_log["user.created"].occurred_at  # 40 days back: always another month (date hierarchy)
    assert _listed(admin_client, f"?occurred_at__year={old.year}&occurred_at__month={old.month}") == {"user.created"}
    user_id = mixed_log["user.created"].resource_id
    assert _listed(admin_client, f"?resource_type=user&resource_id={user_id}") == {"user.created", "user.suspended"}
    assert _listed(admin_client, "?q=Sales") == {"user_group.created"}


def test_event_log_type_filter_offers_every_registered_type(admin_client, mixed_log):
    response = admin_client.get(reverse("admin:directory_directoryevent_changelist"))
    html = response.content.decode()
    assert "?type=command.finished" in html  # offered even though no such event exists yet


def test_event_log_is_read_only_even_for_the_top_role(admin_client, mixed_log):
    event = mixed_log["user.suspended"]
    assert admin_client.get(reverse("admin:directory_directoryevent_add")).status_code == 403
    change_url = reverse("admin:directory_directoryevent_change", args=[event.pk])
    page = admin_client.get(change_url)
    assert page.status_code == 200  # viewable
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(change_url, {"type": "user.created"}).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:directory_directoryevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    changelist = admin_client.get(reverse("admin:directory_directoryevent_changelist"))
    assert changelist.context["action_form"] is None or "delete_selected" not in str(changelist.context["action_form"])
    assert DirectoryEvent.objects.get(pk=event.pk).type == "user.suspended"


def test_read_only_admin_sees_the_directory_and_changes_nothing(client, read_only_admin, make_user):
    user = make_user("ann")
    client.force_login(read_only_admin)
    assert client.get(reverse("admin:directory_user_changelist")).status_code == 200
    assert client.get(reverse("admin:directory_directoryevent_changelist")).status_code == 200
    mark = last_event_id()
    response = client.post(reverse("admin:directory_user_change", args=[user.pk]), _user_form(user, job_title="X"))
    assert response.status_code == 403
    assert client.get(reverse("admin:directory_user_add")).status_code == 403
    assert events_after(mark) == []
    assert list(UserGroup.objects.all()) == []


ADMIN_MODELS = (
    User,
    UserGroup,
    Device,
    DeviceGroup,
    Policy,
    Command,
    CommandRun,
    NotificationChannel,
    DirectoryEvent,
    AdminRole,
    AdminAccount,
)


def test_every_directory_admin_page_renders_with_demo_data(admin_client):
    call_command("seed_demo", stdout=StringIO())  # once for all pages: seeding is the slow part
    for model in ADMIN_MODELS:
        name = model._meta.model_name
        changelist = admin_client.get(reverse(f"admin:directory_{name}_changelist"))
        assert changelist.status_code == 200, name
        assert changelist.context["cl"].result_count > 0, name
        listed = model.objects.filter(principal_of__isnull=True) if model is AdminAccount else model.objects
        first = listed.order_by("pk").first()
        assert admin_client.get(reverse(f"admin:directory_{name}_change", args=[first.pk])).status_code == 200, name
        add = admin_client.get(reverse(f"admin:directory_{name}_add"))
        assert add.status_code == (403 if model in (CommandRun, DirectoryEvent) else 200), name
