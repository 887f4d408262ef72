"""Creating agent enrolment tokens in the admin, in a real browser, on a desktop and a phone."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page, expect

from directory import selectors, services
from directory.actors import Actor
from directory.roles import ADMINISTRATOR
from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]


@pytest.mark.parametrize("width", [1280, 390])
def test_an_administrator_creates_enrolment_tokens_and_sees_each_once(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
    request: pytest.FixtureRequest,
    width: int,
) -> None:
    for hostname in ("lin-042", "mac-007"):
        services.device_create(actor=Actor.system("setup"), hostname=hostname, os_family="linux")
    admin = make_admin("admin-ada", ADMINISTRATOR)
    page.set_viewport_size({"width": width, "height": 800})
    admin_login(page, admin.username)

    page.goto("/admin/directory/device/")
    page.get_by_role("checkbox", name="Select all objects on this page").check()
    page.get_by_label("Action:").select_option(label="Create agent enrolment tokens for selected devices")
    page.get_by_role("button", name="Go").click()

    expect(page.get_by_role("heading", name="Agent enrolment tokens")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("shown only now")
    token_box = page.get_by_label("Enrolment token").first
    expect(token_box).to_have_value(re.compile(r"^kfe_"))
    assert selectors.agent_token_for(token_box.input_value(), kinds=["enrolment"]) is not None
    command = page.get_by_label("Enrol the reference agent").first
    expect(command).to_contain_text("keyflow_agent.py enrol --server http://")
    page.screenshot(path=str(screenshot_path(request)), full_page=True)

    page.get_by_role("link", name="Back to devices").click()
    expect(page).to_have_url(re.compile(r"/admin/directory/device/$"))
