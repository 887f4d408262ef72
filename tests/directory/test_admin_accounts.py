"""Admin accounts: one role each, chosen in the Django admin, every change in the event log."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from directory import account_services, role_services
from directory.models import AdminRole, DirectoryEvent
from tests.directory.helpers import events_after, last_event_id

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:directory_adminaccount_add")
LIST_URL = reverse("admin:directory_adminaccount_changelist")


def change_url(account: Any) -> str:
    return reverse("admin:directory_adminaccount_change", args=[account.pk])


@pytest.fixture
def billing_client(client: Client, billing_admin: Any) -> Client:
    client.force_login(billing_admin)
    return client


def _role(key: str) -> AdminRole:
    return AdminRole.objects.select_related("group").get(key=key)


def _change_form(client: Client, account: Any, **overrides: Any) -> dict[str, Any]:
    """What the change form posts back when nothing is edited, plus ``overrides``."""
    form = client.get(change_url(account)).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in {"password", "groups"}}
    data = {k: v for k, v in data.items() if k in form.fields}
    for flag in ("is_active", "is_staff", "is_superuser"):
        if data.pop(flag, False):
            data[flag] = "on"
    data["role"] = form.fields["role"].initial.pk if form.fields["role"].initial else ""
    data.update({"last_login_0": "", "last_login_1": "", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"})
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _by(found: list[DirectoryEvent], admin: Any) -> None:
    assert found
    assert {(e.actor_type, e.actor_name) for e in found} == {("admin", admin.username)}


def test_billing_admin_creates_an_account_with_one_role(billing_client, billing_admin):
    mark = last_event_id()
    response = billing_client.post(
        ADD_URL,
        {
            "username": "newbie",
            "email": "newbie@example.com",
            "first_name": "New",
            "last_name": "Bie",
            "role": _role("help-desk").pk,
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    account = get_user_model().objects.get(username="newbie")
    assert list(account.groups.values_list("name", flat=True)) == ["Help Desk"]
    assert account.is_staff and account.check_password("A-long-pass-phrase-1")
    [event] = events_after(mark)
    assert (event.type, event.resource_type, event.resource_name) == (
        "admin_account.created",
        "admin_account",
        "newbie",
    )
    assert event.snapshot["role"] == "Help Desk"
    assert "password" not in event.snapshot
    _by([event], billing_admin)


def test_changing_the_role_replaces_the_old_one_and_is_logged(billing_client, billing_admin, help_desk_admin):
    mark = last_event_id()
    response = billing_client.post(
        change_url(help_desk_admin), _change_form(billing_client, help_desk_admin, role=_role("read-only").pk)
    )
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert list(help_desk_admin.groups.values_list("name", flat=True)) == ["Read Only"]
    [event] = events_after(mark)
    assert (event.type, event.resource_name, event.related_name) == (
        "admin_account.role_changed",
        help_desk_admin.username,
        "Read Only",
    )
    assert event.changes == [{"field": "role", "from": "Help Desk", "to": "Read Only"}]
    _by([event], billing_admin)


def test_editing_fields_writes_updated_with_the_changes(billing_client, billing_admin, help_desk_admin):
    mark = last_event_id()
    response = billing_client.post(
        change_url(help_desk_admin),
        _change_form(billing_client, help_desk_admin, email="hal@example.com", is_active=None),
    )
    assert response.status_code == 302
    [event] = events_after(mark)
    assert event.type == "admin_account.updated"
    assert event.changes == [
        {"field": "email", "from": "", "to": "hal@example.com"},
        {"field": "is_active", "from": True, "to": False},
    ]
    _by([event], billing_admin)


def test_saving_unchanged_writes_nothing(billing_client, help_desk_admin):
    mark = last_event_id()
    assert (
        billing_client.post(change_url(help_desk_admin), _change_form(billing_client, help_desk_admin)).status_code
        == 302
    )
    assert events_after(mark) == []


def test_password_change_is_logged_without_the_password(billing_client, billing_admin, help_desk_admin):
    mark = last_event_id()
    url = reverse("admin:auth_user_password_change", args=[help_desk_admin.pk])
    response = billing_client.post(
        url, {"usable_password": "true", "password1": "Another-pass-phrase-2", "password2": "Another-pass-phrase-2"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    help_desk_admin.refresh_from_db()
    assert help_desk_admin.check_password("Another-pass-phrase-2")
    [event] = events_after(mark)
    assert (event.type, event.changes) == (
        "admin_account.password_changed",
        [{"field": "password", "from": None, "to": "***"}],  # the one redaction rule: nothing of it shown
    )
    assert "Another" not in str(event.snapshot) + str(event.changes)
    _by([event], billing_admin)


def test_deleting_an_account_is_logged(billing_client, billing_admin, help_desk_admin):
    mark = last_event_id()
    url = reverse("admin:directory_adminaccount_delete", args=[help_desk_admin.pk])
    assert billing_client.post(url, {"post": "yes"}).status_code == 302
    assert not get_user_model().objects.filter(pk=help_desk_admin.pk).exists()
    [event] = events_after(mark)
    assert (event.type, event.snapshot["username"], event.snapshot["role"]) == (
        "admin_account.deleted",
        "admin-hal",
        "Help Desk",
    )
    _by([event], billing_admin)


def test_run_as_names_are_kept_for_principals(billing_client):
    response = billing_client.post(
        ADD_URL,
        {
            "username": "runas-sales",
            "role": "",
            "password1": "A-long-pass-phrase-1",
            "password2": "A-long-pass-phrase-1",
        },
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["username"] == [
        "Names starting with runas- are kept for run-as accounts."
    ]
    assert not get_user_model().objects.filter(username="runas-sales").exists()


def test_principals_are_not_admin_accounts(billing_client):
    principal = _role("help-desk").principal
    listed = billing_client.get(LIST_URL)
    usernames = {account.username for account in listed.context["cl"].result_list}
    assert "admin-bill" in usernames
    assert not any(name.startswith("runas-") for name in usernames)
    assert billing_client.get(change_url(principal)).status_code == 302  # "does not exist", back to the list
    assert (
        billing_client.post(
            reverse("admin:auth_user_password_change", args=[principal.pk]),
            {"password1": "x-Long-enough-1", "password2": "x-Long-enough-1"},
        ).status_code
        == 404
    )
    with pytest.raises(Exception, match="run-as account"):
        account_services.admin_account_update(account=principal, actor=None, first_name="X")


def test_role_summary_is_beside_the_picker(billing_client, help_desk_admin):
    page = billing_client.get(change_url(help_desk_admin))
    html = page.content.decode()
    help_desk = _role("help-desk")
    # Every role's summary is on the page; only the chosen one is shown.
    assert f'<div class="kf-role-summary" data-role="{help_desk.pk}">' in html
    assert f'<div class="kf-role-summary" data-role="{_role("manager").pk}" hidden>' in html
    assert 'aria-describedby="id_role_summary"' in html
    summary = html.split(f'data-role="{help_desk.pk}">', 1)[1].split("</div>", 1)[0]
    assert "Views the directory; creates and edits users" in summary
    assert "<dt>Users</dt><dd>view, add, change</dd>" in summary
    assert "directory/role_summary.js" in html


def test_only_a_superuser_makes_superusers(billing_client, help_desk_admin):
    response = billing_client.post(
        change_url(help_desk_admin), _change_form(billing_client, help_desk_admin, is_superuser="on")
    )
    assert response.status_code == 302
    help_desk_admin.refresh_from_db()
    assert not help_desk_admin.is_superuser  # read-only for a non-superuser: the posted value is ignored


def test_only_a_superuser_changes_a_superusers_account(billing_client, make_admin, billing_admin):
    """Otherwise whoever manages accounts could set a superuser's password and sign in as them."""
    root = make_admin("root", None)
    root.is_superuser = True
    root.save()
    page = billing_client.get(change_url(root))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    password_url = reverse("admin:auth_user_password_change", args=[root.pk])
    assert (
        billing_client.post(password_url, {"password1": "x-Long-enough-1", "password2": "x-Long-enough-1"}).status_code
        == 403
    )
    assert (
        billing_client.post(reverse("admin:directory_adminaccount_delete", args=[root.pk]), {"post": "yes"}).status_code
        == 403
    )
    with pytest.raises(ValidationError, match="Only a superuser"):
        account_services.admin_account_set_password(account=root, password="x-Long-enough-1", actor=billing_admin)
    root.refresh_from_db()
    assert root.check_password("pw-Keyflow-123")


def test_an_admin_cannot_hand_out_a_role_broader_than_their_own(client, make_admin, billing_admin):
    """A custom role that may manage accounts still cannot give an account more than it holds."""
    account_manager = role_services.role_create(name="Account managers", based_on=None, actor=billing_admin)
    role_services.role_set_permissions(
        role=account_manager,
        actor=billing_admin,
        permissions={"auth.view_user", "auth.change_user", "directory.view_adminrole"},
    )
    manager = make_admin("admin-acc", account_manager.key)
    target = make_admin("admin-tgt", "read-only")
    client.force_login(manager)
    response = client.post(change_url(target), _change_form(client, target, role=_role("administrator").pk))
    assert response.status_code == 200
    assert "You cannot grant permissions you do not hold" in str(response.context["adminform"].form.errors["role"])
    assert list(target.groups.values_list("name", flat=True)) == ["Read Only"]


@pytest.mark.parametrize(
    ("kind", "listing", "adding"),
    [("billing_admin", 200, 200), ("administrator", 200, 403), ("help_desk_admin", 403, 403), ("outsider", 403, 403)],
)
def test_who_may_see_and_add_accounts(client, request, kind, listing, adding):
    client.force_login(request.getfixturevalue(kind))
    assert client.get(LIST_URL).status_code == listing
    assert client.get(ADD_URL).status_code == adding


def test_administrator_sees_accounts_read_only(client, administrator, help_desk_admin):
    client.force_login(administrator)
    page = client.get(change_url(help_desk_admin))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert client.post(change_url(help_desk_admin), {"username": "x"}).status_code == 403


def test_account_pages_run_a_bounded_number_of_queries(billing_client, make_admin, django_assert_max_num_queries):
    for n in range(15):
        make_admin(f"admin-{n}", "help-desk")
    with django_assert_max_num_queries(12):
        assert billing_client.get(LIST_URL).status_code == 200
    with django_assert_max_num_queries(20):
        assert billing_client.get(change_url(get_user_model().objects.get(username="admin-3"))).status_code == 200
