"""The Content-Security-Policy in a real browser: the admin and Swagger UI render with no violation.

The header comes from ``config.csp`` with the default ``KEYFLOW_CSP`` (no inline script, no inline
style). Chromium reports each blocked script, style or image both as a console error and as a
``securitypolicyviolation`` event; the test fails on either.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page, expect

from directory import services
from directory.roles import ADMINISTRATOR
from tests.e2e.conftest import screenshot_path

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]

_WATCH = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(
  e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""


def _watch(page: Page) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(_WATCH)
    return messages


def _violations(page: Page, console: list[str]) -> list[str]:
    return [*console, *page.evaluate("window.__cspViolations || []")]


def test_the_admin_renders_without_csp_violations(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
    request: pytest.FixtureRequest,
) -> None:
    console = _watch(page)
    admin = make_admin("csp-admin", ADMINISTRATOR)
    user = services.user_create(actor=admin, username="ann", email="ann@example.com", attributes={"team": "Blue"})
    response = page.goto("/admin/login/")
    assert response is not None and "default-src 'self'" in response.headers["content-security-policy"]
    admin_login(page, admin.username)
    for path in (
        "/admin/",
        "/admin/directory/user/",
        f"/admin/directory/user/{user.pk}/change/",
        "/admin/directory/user/add/",
        "/admin/directory/directoryevent/",
        "/admin/workflows/workflow/add/",
    ):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert _violations(page, console) == [], path
    page.goto("/admin/directory/user/add/")
    page.get_by_label("Username").fill("bo")  # the admin's scripts run (no error), the form works
    page.screenshot(path=str(screenshot_path(request, "-user-add")), full_page=True)


def test_swagger_ui_renders_without_csp_violations(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
    request: pytest.FixtureRequest,
) -> None:
    console = _watch(page)
    admin_login(page, make_admin("csp-docs", ADMINISTRATOR).username)
    response = page.goto("/api/docs/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Keyflow API")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    page.locator(".opblock-tag-section").first.click()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(screenshot_path(request, "-docs")), full_page=False)
    assert _violations(page, console) == []
