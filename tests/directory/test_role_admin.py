"""Admin roles in the Django admin: the matrix, scopes, copying, the workflow warning, the log."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from directory import role_services
from directory import services as ds
from directory.models import AdminRole, RoleMemberScope, UserGroup
from directory.roles import BUILTIN_ROLES
from tests.directory.helpers import events_after, last_event_id
from workflows.services import workflow_create

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:directory_adminrole_add")
LIST_URL = reverse("admin:directory_adminrole_changelist")
SUSPEND = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "do": [{"offboard": {"call": "user.suspend", "with": {"user": "ann"}}}],
}


def _hidden_value(html: str, name: str) -> str:
    """The value of the hidden input ``name`` in ``html``."""
    found = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def change_url(role: AdminRole) -> str:
    return reverse("admin:directory_adminrole_change", args=[role.pk])


def _role(key: str) -> AdminRole:
    return AdminRole.objects.select_related("group", "principal").get(key=key)


@pytest.fixture
def billing_client(client: Client, billing_admin: Any) -> Client:
    client.force_login(billing_admin)
    return client


@pytest.fixture
def sales(db: None) -> UserGroup:
    return ds.group_create(actor=None, name="Sales")


@pytest.fixture
def custom(billing_admin: Any) -> AdminRole:
    return role_services.role_create(name="Sales Help Desk", based_on=_role("help-desk"), actor=billing_admin)


def _form_data(client: Client, role: AdminRole, **overrides: Any) -> dict[str, Any]:
    """What the change page posts back when nothing is edited, plus ``overrides``."""
    page = client.get(change_url(role))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data: dict[str, Any] = {
        "name": role.name,
        "description": role.description,
        "permissions": list(form.fields["permissions"].initial),
    }
    data.update(overrides)
    return data


def test_copy_help_desk_then_scope_it_and_watch_the_workflow_warning(
    billing_client, billing_admin, make_admin, sales, make_user
):
    """The issue's scenario: copy Help Desk, allow "change state" on users of Sales only, give the
    role to an account and to a workflow, then remove the scope and be warned before saving."""
    help_desk = _role("help-desk")
    mark = last_event_id()

    # The built-in role offers the copy, read-only.
    page = billing_client.get(change_url(help_desk)).content.decode()
    assert f'href="{ADD_URL}?based_on={help_desk.pk}"' in page and "Copy to a custom role" in page
    assert 'name="_save"' not in page

    add_page = billing_client.get(f"{ADD_URL}?based_on={help_desk.pk}")
    assert add_page.context["title"] == "Copy Help Desk to a custom role"
    assert add_page.context["adminform"].form.initial["based_on"] == str(help_desk.pk)
    response = billing_client.post(
        ADD_URL, {"name": "Sales Help Desk", "description": "Help desk for Sales", "based_on": help_desk.pk}
    )
    role = AdminRole.objects.get(key="sales-help-desk")
    assert response.status_code == 302 and response.url == change_url(role)
    assert role_services.role_codes(role) == role_services.role_codes(help_desk)
    assert role.principal.username == "runas-sales-help-desk" and role.principal != help_desk.principal

    # Grant "change state" on the users of Sales only: an object scope, not a matrix cell.
    response = billing_client.post(
        change_url(role),
        _form_data(billing_client, role, scope_permission="directory.change_user_state", scope_groups=[sales.pk]),
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert RoleMemberScope.objects.filter(role=role, user_group=sales).count() == 1
    assert "directory.change_user_state" not in role_services.role_codes(role)

    # Give it to an admin account and to a workflow's run-as (saving checks coverage: the scope counts).
    account = make_admin("admin-sam", None)
    role_services.admin_set_role(admin=account, role=role, actor=billing_admin)
    make_user("ann", state="active")
    workflow = workflow_create(name="Offboard Sales", definition=SUSPEND, run_as=role, actor=billing_admin)
    listed = billing_client.get(change_url(role)).content.decode()
    assert reverse("admin:workflows_workflow_change", args=[workflow.pk]) in listed and "Offboard Sales" in listed

    # Removing the scope would leave the workflow without change_user_state at do[0].offboard.
    scope_id = f"members-{RoleMemberScope.objects.get(role=role).pk}"
    warned = billing_client.post(change_url(role), _form_data(billing_client, role, remove_scopes=[scope_id]))
    assert warned.status_code == 200
    html = warned.content.decode()
    assert "Workflows that run as this role would fail" in html
    assert "Offboard Sales" in html
    assert "<code>do[0].offboard</code> (user.suspend): needs <code>directory.change_user_state</code>" in html
    assert RoleMemberScope.objects.filter(role=role).exists()  # nothing saved yet
    # "Save anyway" is a button of its own; Enter in a field still means the plain Save.
    assert '<button type="submit" name="confirm_impact" value="on"' in html
    assert html.index('name="_save"') < html.index('name="confirm_impact"')

    confirmed = billing_client.post(
        change_url(role), _form_data(billing_client, role, remove_scopes=[scope_id], confirm_impact="on")
    )
    assert confirmed.status_code == 302
    assert not RoleMemberScope.objects.filter(role=role).exists()
    # The workflow now fails the coverage check, and the role page says where.
    assert "fails at do[0].offboard (user.suspend): needs directory.change_user_state" in (
        billing_client.get(change_url(role)).content.decode()
    )

    # The event log: who gave whom what, in order.
    found = [
        (e.type, e.resource_name, e.related_name, e.actor_name)
        for e in events_after(mark)
        if e.resource_type in ("admin_role", "admin_account")
    ]
    assert found == [
        ("admin_role.created", "Sales Help Desk", "", "admin-bill"),
        ("admin_role.scope_added", "Sales Help Desk", "Sales", "admin-bill"),
        ("admin_account.role_changed", "admin-sam", "Sales Help Desk", "admin-bill"),
        ("admin_role.scope_removed", "Sales Help Desk", "Sales", "admin-bill"),
    ]
    log = billing_client.get(reverse("admin:directory_directoryevent_changelist") + "?resource_type=admin_role")
    assert {e.type for e in log.context["cl"].result_list} == {
        "admin_role.created",
        "admin_role.scope_added",
        "admin_role.scope_removed",
    }


def test_editing_a_builtin_role_is_refused(billing_client):
    help_desk = _role("help-desk")
    before = role_services.role_codes(help_desk)
    response = billing_client.post(
        change_url(help_desk), {"name": "Help Desk", "description": "", "permissions": ["users.delete"]}
    )
    assert response.status_code == 403
    assert role_services.role_codes(_role("help-desk")) == before
    delete = billing_client.post(reverse("admin:directory_adminrole_delete", args=[help_desk.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert AdminRole.objects.filter(pk=help_desk.pk).exists()


@pytest.mark.parametrize("spec", BUILTIN_ROLES, ids=lambda spec: spec.key)
def test_builtin_role_pages_show_the_matrix_read_only(billing_client, spec):
    page = billing_client.get(change_url(_role(spec.key)))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'type="checkbox" name="permissions"' not in html
    assert "Built-in roles are read-only" in html
    if spec.key == "help-desk":
        assert 'aria-label="Users: add: yes"' in html
        assert 'aria-label="Users: delete: no"' in html
        assert 'aria-label="Users: change state: no"' in html


def test_the_matrix_grants_and_revokes_and_keeps_what_it_does_not_show(billing_client, billing_admin):
    role = role_services.role_create(
        name="Billing copy", based_on=_role("administrator-with-billing"), actor=billing_admin
    )
    data = _form_data(billing_client, role)
    assert "users.change_state" in data["permissions"]
    data["permissions"] = [cell for cell in data["permissions"] if cell not in ("users.change_state", "policies.bind")]
    data["permissions"].append("command_runs.view")  # already held: unchanged
    mark = last_event_id()

    response = billing_client.post(change_url(role), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    codes = role_services.role_codes(role)
    assert "directory.change_user_state" not in codes and "directory.bind_policy" not in codes
    assert "directory.manage_billing" in codes  # not in the matrix: left alone
    assert sorted((e.type, e.changes[0]["from"]) for e in events_after(mark)) == [
        ("admin_role.permission_revoked", "directory.bind_policy"),
        ("admin_role.permission_revoked", "directory.change_user_state"),
    ]
    page = billing_client.get(change_url(role)).content.decode()
    assert "directory.manage_billing" in page  # listed under "Other permissions"


def test_saving_applies_only_the_cells_the_admin_changed(billing_client, billing_admin, custom):
    """Another admin's change made while this page was open is kept, not undone by the stale page."""
    data = _form_data(billing_client, custom)
    data["permissions-shown"] = _hidden_value(
        billing_client.get(change_url(custom)).content.decode(), "permissions-shown"
    )
    data["permissions"].append("devices.change")  # this admin ticks one cell
    codes = role_services.role_codes(custom) | {"directory.delete_user"}  # meanwhile, someone else grants one
    role_services.role_set_permissions(role=custom, actor=billing_admin, permissions=codes)

    assert billing_client.post(change_url(custom), data).status_code == 302

    assert {"directory.change_device", "directory.delete_user"} <= role_services.role_codes(custom)


def test_a_scope_for_a_permission_ticked_everywhere_is_a_form_error(billing_client, custom, sales):
    data = _form_data(billing_client, custom, scope_permission="directory.change_user", scope_groups=[sales.pk])
    response = billing_client.post(change_url(custom), data)
    assert response.status_code == 200
    assert "is ticked in the matrix, which grants it everywhere" in str(
        response.context["adminform"].form.errors["scope_permission"]
    )
    assert not RoleMemberScope.objects.exists()


def test_a_scope_needs_both_a_permission_and_groups(billing_client, custom, sales):
    response = billing_client.post(change_url(custom), _form_data(billing_client, custom, scope_groups=[sales.pk]))
    assert response.context["adminform"].form.errors["scope_permission"] == [
        "Choose the permission to give in these groups."
    ]
    response = billing_client.post(
        change_url(custom), _form_data(billing_client, custom, scope_permission="directory.change_user_state")
    )
    assert response.context["adminform"].form.errors["scope_groups"] == ["Choose at least one user group."]


def test_unticking_what_a_workflow_needs_warns_and_untouched_edits_do_not(billing_client, billing_admin, custom):
    workflow_create(
        name="Retitle",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [{"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "X"}}}],
        },
        run_as=custom,
        actor=billing_admin,
    )
    # A description change: no warning.
    assert (
        billing_client.post(change_url(custom), _form_data(billing_client, custom, description="d")).status_code == 302
    )
    data = _form_data(billing_client, custom)
    data["permissions"].remove("users.change")
    response = billing_client.post(change_url(custom), data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    [(dependent, shortfalls)] = form.impact
    assert dependent.name == "Retitle"
    assert [str(s) for s in shortfalls] == ["do[0].retitle (user.update) needs directory.change_user"]
    assert "directory.change_user" in role_services.role_codes(custom)


def test_renaming_to_a_taken_name_is_a_form_error(billing_client, custom):
    response = billing_client.post(change_url(custom), _form_data(billing_client, custom, name="manager"))
    assert response.context["adminform"].form.errors["name"] == ["A role with this name already exists."]


def test_deleting_a_custom_role_through_the_admin(billing_client, billing_admin, custom):
    principal_pk = custom.principal.pk
    mark = last_event_id()
    response = billing_client.post(reverse("admin:directory_adminrole_delete", args=[custom.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert not AdminRole.objects.filter(pk=custom.pk).exists()
    assert not get_user_model().objects.filter(pk=principal_pk).exists()
    [event] = events_after(mark)
    assert (event.type, event.actor_name) == ("admin_role.deleted", billing_admin.username)


@pytest.mark.parametrize(
    ("kind", "listing", "custom_page", "may_post"),
    [
        ("billing_admin", 200, 200, True),
        ("administrator", 200, 200, False),
        ("help_desk_admin", 200, 200, False),
        ("outsider", 403, 403, False),
    ],
)
def test_who_may_see_and_change_roles(client, request, custom, kind, listing, custom_page, may_post):
    client.force_login(request.getfixturevalue(kind))
    assert client.get(LIST_URL).status_code == listing
    page = client.get(change_url(custom))
    assert page.status_code == custom_page
    if custom_page == 200:
        assert ('type="checkbox" name="permissions"' in page.content.decode()) is may_post
    response = client.post(change_url(custom), {"name": "Hijacked", "description": "", "permissions": []})
    assert (response.status_code == 302) is may_post
    assert AdminRole.objects.get(pk=custom.pk).name == ("Hijacked" if may_post else "Sales Help Desk")


def test_role_pages_run_a_bounded_number_of_queries(
    billing_client, billing_admin, custom, django_assert_max_num_queries
):
    groups = [ds.group_create(actor=None, name=f"G{n}") for n in range(8)]
    for group in groups:
        role_services.role_scope_add(
            role=custom, actor=billing_admin, permission="directory.change_user_state", user_group=group
        )
        role_services.role_scope_add(
            role=custom, actor=billing_admin, permission="directory.delete_usergroup", user_group=group
        )
    for n in range(5):
        workflow_create(name=f"W{n}", definition=SUSPEND, run_as=custom, actor=billing_admin)
    with django_assert_max_num_queries(30):
        assert billing_client.get(change_url(custom)).status_code == 200
    with django_assert_max_num_queries(12):
        assert billing_client.get(LIST_URL).status_code == 200


def test_the_admin_is_branded_and_has_one_place_for_roles(billing_client):
    index = billing_client.get(reverse("admin:index"))
    html = index.content.decode()
    assert "Keyflow administration" in html and "Django administration" not in html
    assert '<a href="/workflows/">View site</a>' in html
    assert 'class="kf-builder-link" href="/workflows/">Workflow builder</a>' in html
    models = {model["object_name"] for app in index.context["app_list"] for model in app["models"]}
    assert {"AdminRole", "AdminAccount", "User"} <= models
    assert "Group" not in models  # roles are edited as Admin roles only
    assert billing_client.get("/admin/auth/group/").status_code == 404
    names = {model["name"] for app in index.context["app_list"] for model in app["models"]}
    assert {"Admin accounts", "Admin roles", "Users"} <= names


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("help desk", "A role with this name already exists."),
        ("!!!", "Choose a name that gives a new, non-empty key."),
        ("Sales", "The run-as account name runas-sales is taken; choose another name."),
    ],
)
def test_a_new_roles_name_is_checked_on_the_form(billing_client, make_admin, name, error):
    make_admin("runas-sales")  # an old account holding the name the role's principal would take
    response = billing_client.post(ADD_URL, {"name": name, "description": "", "based_on": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == [error]
