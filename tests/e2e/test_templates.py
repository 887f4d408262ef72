"""A template from the gallery, end to end in a real browser: the Add menu → the gallery → the
template's inputs (a select, checkboxes, object pickers) → the unsaved draft on the canvas running
as the suggested role → save → the workflow runs on its event."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.db import transaction
from playwright.sync_api import Page, expect

from directory import services as directory
from directory.models import User
from executions.models import Execution
from executions.tasks import run_execution
from tests.e2e import builder_steps as steps
from tests.e2e.conftest import screenshot_path
from workflows.models import Workflow, WorkflowDraft

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]


@pytest.fixture
def company() -> None:
    directory.user_create(
        actor=None, username="priya", email="priya@example.com", first_name="Priya", department="Engineering"
    )
    for name in ("Engineering", "VPN Users", "Sales"):
        directory.group_create(actor=None, name=name)
    directory.channel_create(actor=None, name="IT mail", kind="email", recipients=["it@example.com"])


def _shots(page: Page, request: pytest.FixtureRequest, name: str) -> None:
    """The page at a desktop and a phone width, for a person to look at (test-results/)."""
    for width, height in ((1280, 800), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(screenshot_path(request, f"-{name}-{width}")), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_use_a_template_from_the_gallery_save_it_and_it_runs(
    administrator_page: Page, company: None, settings, request: pytest.FixtureRequest
) -> None:
    settings.KEYFLOW_DISPATCH_INLINE = True
    page = administrator_page
    page.locator("summary", has_text="Add").click()
    page.get_by_role("link", name="From a template", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/templates/$"))
    expect(page.locator(".template-card")).to_have_count(12)

    # Narrow the gallery: the category filter and the search work in place.
    page.get_by_label("Category").select_option("user-lifecycle")
    expect(page.locator(".template-card")).to_have_count(5)
    page.get_by_label("Search templates").fill("department")
    expect(page.locator(".template-card")).to_have_count(1)
    page.get_by_label("Search templates").fill("")
    page.get_by_label("Category").select_option("")
    expect(page.locator(".template-card")).to_have_count(12)
    _shots(page, request, "gallery")

    page.get_by_role("link", name="Use template Onboarding by department").click()
    expect(page.get_by_role("heading", name="Onboarding by department")).to_be_visible()
    page.wait_for_load_state("load")

    # Submitting with inputs missing shows each error beside its input, focused on the summary.
    page.get_by_role("button", name="Open on the canvas").click()
    expect(page.locator("#form-errors")).to_be_focused()
    expect(page.locator("#input-groups-error")).to_have_text("This input is required.")
    _shots(page, request, "use-errors")

    page.get_by_label("Department").select_option("Engineering")
    page.get_by_label("Engineering", exact=True).check()
    page.get_by_label("VPN Users").check()
    steps.pick_object(page, "input-manager", "pri", "priya@example.com")
    steps.pick_object(page, "input-channel", "IT", "IT mail")
    page.get_by_role("button", name="Open on the canvas").click()

    # The draft on the canvas: not saved, running as the suggested (narrowest) role, no Run yet.
    expect(page).to_have_url(re.compile(r"/workflows/drafts/\d+/$"))
    page.wait_for_load_state("load")
    expect(page.locator("#workflow-name")).to_have_value("Onboarding: Engineering")
    expect(page.get_by_text("Not saved yet")).to_be_visible()
    expect(page.locator(".runas__role")).to_have_text("Help Desk")
    expect(page.locator("#run-button")).to_have_count(0)
    expect(page.locator("#savebar")).to_contain_text("unsaved changes")
    assert not Workflow.objects.exists()
    _shots(page, request, "canvas")

    steps.save(page)
    workflow = Workflow.objects.get(name="Onboarding: Engineering")
    assert workflow.run_as.key == "help-desk" and workflow.enabled and not WorkflowDraft.objects.exists()

    # It runs: a new engineer is onboarded.
    with transaction.atomic():
        directory.user_create(
            actor=None, username="nova", email="nova@example.com", first_name="Nova", department="Engineering"
        )
    execution = Execution.objects.get(workflow=workflow)
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    nova = User.objects.get(username="nova")
    assert sorted(nova.groups.values_list("name", flat=True)) == ["Engineering", "VPN Users"]
    assert nova.manager.username == "priya"
    assert sorted(m.to[0] for m in mail.outbox) == ["it@example.com", "nova@example.com"]
