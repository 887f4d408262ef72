"""The admin in a real browser: what an Administrator and a Read Only admin see and can do.

These complement the service tests by checking the whole path a person takes — login form,
admin index, add form, changelist, event log — including that the admin's static files load
(a page without CSS still "works" for the test client but not for a person).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page, expect

from directory import services
from directory.models import DirectoryEvent, User
from directory.roles import ADMINISTRATOR, ADMINISTRATOR_WITH_BILLING, READ_ONLY
from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]


def _open_directory_model(page: Page, link_text: str) -> None:
    """Follow the admin index link inside the Directory app (auth also has a "Users" model)."""
    page.goto("/admin/")
    page.locator(".app-directory").get_by_role("link", name=link_text, exact=True).click()


def _assert_admin_css_loaded(page: Page) -> None:
    """The admin stylesheet applied: Django's header bar is not the browser's default transparent."""
    background = page.locator("#header").evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "transparent"), f"admin CSS not applied: #header {background}"


def test_administrator_creates_a_user_and_sees_its_event(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
    request: pytest.FixtureRequest,
) -> None:
    admin = make_admin("admin-ada", ADMINISTRATOR)
    admin_login(page, admin.username)
    _assert_admin_css_loaded(page)

    _open_directory_model(page, "Users")
    expect(page).to_have_url(re.compile(r"/admin/directory/user/$"))
    page.get_by_role("link", name="Add user").click()

    page.get_by_label("Username").fill("newton")
    page.get_by_label("Email").fill("newton@example.com")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page).to_have_url(re.compile(r"/admin/directory/user/$"))
    expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    expect(page.locator("#result_list")).to_contain_text("newton@example.com")
    created = User.objects.get(username="newton")
    assert created.email == "newton@example.com"

    _open_directory_model(page, "Directory events")
    expect(page).to_have_url(re.compile(r"/admin/directory/directoryevent/$"))
    row = page.locator("#result_list tbody tr").filter(has_text="user.created").filter(has_text="newton@example.com")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(admin.username)

    # The browser saw what the database holds: one creation event, attributed to the admin.
    event = DirectoryEvent.objects.get(type="user.created", resource_id=str(created.pk))
    assert (event.actor_type, event.actor_name) == ("admin", admin.username)

    _assert_admin_css_loaded(page)
    page.screenshot(path=str(screenshot_path(request)), full_page=True)


def test_read_only_admin_sees_users_but_cannot_add(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
) -> None:
    services.user_create(actor=None, username="grace", email="grace@example.com")
    reader = make_admin("admin-rox", READ_ONLY)
    admin_login(page, reader.username)

    _open_directory_model(page, "Users")
    expect(page).to_have_url(re.compile(r"/admin/directory/user/$"))
    # The list really rendered (so the missing button below is not just a broken page).
    expect(page.get_by_role("heading", name="Select user to view")).to_be_visible()
    expect(page.locator("#result_list")).to_contain_text("grace@example.com")
    expect(page.get_by_role("link", name=re.compile(r"^Add user"))).to_have_count(0)
    expect(page.locator(".object-tools .addlink")).to_have_count(0)

    # Hiding the button is not the protection; the add view itself must refuse.
    response = page.goto("/admin/directory/user/add/")
    assert response is not None
    assert response.status == 403


OFFBOARD = (
    '{"dsl": "1.0", "trigger": {"type": "manual"},'
    ' "input": {"schema": {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}}},'
    ' "do": [{"offboard": {"call": "user.suspend", "with": {"user": "{{ input.user }}"}}}]}'
)


def test_billing_admin_copies_scopes_assigns_and_is_warned(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
    request: pytest.FixtureRequest,
) -> None:
    """Issue 22 in a browser: copy Help Desk to a custom role, let it change the state of the
    users of Sales only, give it to an account and to a workflow, try the built-in role, then
    remove the scope and be warned which workflow would fail where; the event log tells who."""
    from directory.models import AdminRole, RoleMemberScope
    from workflows.models import Workflow

    sales = services.group_create(actor=None, name="Sales")
    services.group_create(actor=None, name="Support")
    billing = make_admin("admin-bill", ADMINISTRATOR_WITH_BILLING)
    make_admin("admin-sam", None)
    admin_login(page, billing.username)
    expect(page.locator("#site-name")).to_have_text("Keyflow administration")
    expect(page.get_by_role("link", name="View site")).to_have_attribute("href", "/workflows/")
    expect(page.get_by_role("link", name="Workflow builder")).to_have_attribute("href", "/workflows/")

    # A built-in role: read-only, with the copy offered.
    _open_directory_model(page, "Admin roles")
    page.locator("#result_list").get_by_role("link", name="Help Desk", exact=True).click()
    expect(page.get_by_text("Built-in roles are read-only")).to_be_visible()
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    expect(page.get_by_role("img", name="Users: change state: no")).to_be_visible()
    page.get_by_role("link", name="Copy to a custom role").click()
    expect(page.get_by_role("heading", name="Copy Help Desk to a custom role")).to_be_visible()
    page.get_by_label("Name").fill("Sales Help Desk")
    page.get_by_label("Description").fill("Help desk for Sales; suspends Sales users only.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_contain_text("Now choose its permissions and scopes")
    role = AdminRole.objects.get(key="sales-help-desk")

    # "Change state" on users, in Sales only: a scope, the matrix cell stays unticked.
    expect(page.get_by_label("Users: change state (activate and suspend)", exact=True)).not_to_be_checked()
    page.get_by_label("Add a scope: permission").select_option(label="Users: change state (activate and suspend)")
    page.locator("#id_scope_groups").get_by_label("Sales").check()
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.get_by_label("Users: change state (activate and suspend) — users in group Sales")).to_be_visible()
    assert RoleMemberScope.objects.filter(role=role, user_group=sales).exists()

    # The account: pick the role, its summary shows beside the picker.
    _open_directory_model(page, "Admin accounts")
    page.get_by_role("link", name="admin-sam").click()
    page.get_by_label("Role").select_option(label="Sales Help Desk")
    summary = page.locator(f'.kf-role-summary[data-role="{role.pk}"]')
    expect(summary).to_be_visible()
    expect(summary).to_contain_text("users in group Sales")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    expect(page.locator("#result_list tr", has_text="admin-sam")).to_contain_text("Sales Help Desk")

    # The workflow: run as the new role (saving checks coverage; the scope counts).
    page.goto("/admin/workflows/workflow/add/")
    page.get_by_label("Name").fill("Offboard Sales")
    page.get_by_label("Run as").select_option(label="Sales Help Desk")
    page.get_by_label("Definition").fill(OFFBOARD)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert Workflow.objects.get(name="Offboard Sales").run_as == role

    # Remove the scope: warned, nothing saved; then save anyway.
    page.goto(f"/admin/directory/adminrole/{role.pk}/change/")
    expect(page.get_by_role("group", name="Workflows running as this role")).to_contain_text("Offboard Sales")
    page.get_by_label("Users: change state (activate and suspend) — users in group Sales").check()
    page.get_by_label("Description").press("Enter")  # a textarea: no submit
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.get_by_role("alert")
    expect(warning).to_contain_text("Workflows that run as this role would fail")
    expect(warning).to_contain_text("Offboard Sales")
    expect(warning).to_contain_text("fails at do[0].offboard (user.suspend): needs directory.change_user_state")
    assert RoleMemberScope.objects.filter(role=role).exists()
    page.screenshot(path=str(screenshot_path(request, "-warning")), full_page=True)
    warning.get_by_role("button", name="Save anyway").click()
    expect(page.locator(".messagelist .success")).to_be_visible()
    assert not RoleMemberScope.objects.filter(role=role).exists()

    # The event log: each change, with who made it.
    page.goto("/admin/directory/directoryevent/?actor_type=admin")
    rows = page.locator("#result_list tbody tr")
    for event_type, name in (
        ("admin_role.created", "Sales Help Desk"),
        ("admin_role.scope_added", "Sales Help Desk"),
        ("admin_account.role_changed", "admin-sam"),
        ("admin_role.scope_removed", "Sales Help Desk"),
    ):
        row = rows.filter(has_text=event_type).filter(has_text=name)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(billing.username)
    page.screenshot(path=str(screenshot_path(request)), full_page=True)
