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
from directory.roles import ADMINISTRATOR, READ_ONLY
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
