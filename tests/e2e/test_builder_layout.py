"""The builder's pages at 1280×800 and 390 px wide: nothing spills sideways, and a screenshot of
each is kept in ``test-results/`` to look at."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page, expect

from directory.models import AdminRole
from directory.roles import ADMINISTRATOR
from tests.e2e.conftest import screenshot_path
from workflows.services import workflow_create

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]

SIZES = {"wide": (1280, 800), "narrow": (390, 844)}


def no_sideways_scroll(page: Page) -> None:
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the window"


@pytest.mark.parametrize("size", list(SIZES))
def test_pages_fit_the_window(
    page: Page,
    make_admin: Callable[..., AbstractUser],
    admin_login: Callable[..., None],
    request: pytest.FixtureRequest,
    size: str,
) -> None:
    workflow = workflow_create(
        name="Onboard engineers",
        description="Adds engineers to their group.",
        definition={
            "dsl": "1.0",
            "trigger": {
                "type": "event",
                "event": "user.created",
                "when": {"left": "{{ event.user.department }}", "op": "eq", "right": "Engineering"},
            },
            "do": [
                {
                    "join": {
                        "call": "user.add_to_group",
                        "with": {"user": "{{ event.user.email }}", "group": "Engineering"},
                    }
                },
                {
                    "check": {
                        "switch": [
                            {
                                "contractor": {
                                    "when": {
                                        "left": "{{ event.user.employee_type }}",
                                        "op": "eq",
                                        "right": "contractor",
                                    },
                                    "do": [
                                        {
                                            "tag": {
                                                "call": "user.update",
                                                "with": {"user": "{{ event.user.email }}", "job_title": "Contractor"},
                                            }
                                        }
                                    ],
                                }
                            },
                            {"default": {"do": []}},
                        ]
                    }
                },
            ],
        },
        run_as=AdminRole.objects.get(key="manager"),
        actor=None,
    )
    admin = make_admin("admin-ada", ADMINISTRATOR)
    admin_login(page, admin.username)
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))

    page.goto("/workflows/")
    expect(page.get_by_role("link", name="Onboard engineers")).to_be_visible()
    no_sideways_scroll(page)
    page.screenshot(path=str(screenshot_path(request, "-overview")))

    page.goto(f"/workflows/{workflow.pk}/")
    expect(page.locator("#card-do-1-check")).to_be_visible()
    no_sideways_scroll(page)
    page.screenshot(path=str(screenshot_path(request, "-canvas")))

    page.locator("#open-do-0-join").click()
    expect(page.locator("#panel-form")).to_be_visible()
    no_sideways_scroll(page)
    page.screenshot(path=str(screenshot_path(request, "-panel")))

    page.goto(f"/workflows/{workflow.pk}/json/")
    no_sideways_scroll(page)
    page.goto("/workflows/new/")
    expect(page.locator("#create-dialog")).to_be_visible()
    no_sideways_scroll(page)
    page.screenshot(path=str(screenshot_path(request, "-create")))
