"""Steps a person takes in the workflow builder, shared by the browser tests.

Each waits for what the page shows after the step (a card, a panel, a message) rather than
for time to pass, so the tests follow the page at its own speed.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect


def open_builder(page: Page) -> None:
    page.goto("/workflows/")
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()


def create_workflow(page: Page, kind: str, name: str) -> None:
    """Overview → Add → New workflow → type → Next → name → Done; lands on the canvas."""
    page.locator("summary", has_text="Add").click()
    page.get_by_role("link", name="New workflow").click()
    dialog = page.locator("#create-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_role("radio", name=re.compile(f"^{kind}")).check()
    dialog.get_by_role("button", name="Next").click()
    expect(dialog.get_by_label("Name")).to_be_focused()  # the new step is in place and wired up
    dialog.get_by_label("Name").fill(name)
    expect(dialog.locator("#name-check")).to_contain_text("is available")
    dialog.get_by_role("button", name="Done").click()
    expect(page).to_have_url(re.compile(r"/workflows/drafts/\d+/$"))
    page.wait_for_load_state("load")  # htmx wires the page up once its scripts have run
    expect(page.locator("#workflow-name")).to_have_value(name)


def add_task(page: Page, add_button: str, tab: str, choice: str) -> None:
    """Click a + on the canvas and choose an action (``tab="Actions"``) or a flow (``"Flows"``)."""
    page.locator(add_button).click()
    dialog = page.locator("#picker-dialog")
    expect(dialog.locator("#action-search")).to_be_focused()  # opened, and wired up by htmx
    if tab != "Actions":
        dialog.get_by_role("tab", name=tab).click()
    dialog.locator(".pick-option").filter(has=page.locator("strong").get_by_text(choice, exact=True)).click()
    expect(dialog).to_have_count(0)
    expect(page.locator("#panel-form")).to_be_visible()


def insert_variable(page: Page, field_id: str, search: str, expression: str) -> None:
    """Open the variable picker beside a field and insert ``{{ expression }}``."""
    page.locator(f'[data-var-target="{field_id}"]').click()
    picker = page.locator("#var-picker")
    expect(picker).to_be_visible()
    picker.locator("#var-search").fill(search)
    picker.locator(f'[data-insert="{{{{ {expression} }}}}"]').click()
    expect(picker).to_be_hidden()


def pick_object(page: Page, field_id: str, text: str, value: str) -> None:
    """Type into an object field and choose a match from its search results."""
    page.locator(f"#{field_id}").fill(text)
    option = page.locator(f'#{field_id}-options [data-pick="{value}"]')
    expect(option).to_be_visible()
    option.click()
    expect(page.locator(f"#{field_id}")).to_have_value(value)


def settle(page: Page) -> None:
    """Wait until htmx has no request in flight (edits are queued one after another)."""
    page.wait_for_function("() => !document.querySelector('.htmx-request')")


def open_card(page: Page, card_id: str) -> None:
    page.locator(f"#{card_id} .card__title").first.click()
    expect(page.locator(f"#{card_id}")).to_have_class(re.compile("card--selected"))


def choose_suggested_role(page: Page) -> str:
    page.locator("#run-as-select").click()
    dialog = page.locator("#run-as-dialog")
    expect(dialog).to_be_visible()
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-request')")
    suggested = dialog.locator(".role-option--suggested")
    name = suggested.locator("strong").first.inner_text()
    suggested.locator("input[type=radio]").check()
    expect(dialog.locator(".alert--success")).to_contain_text(f"{name} covers every action")
    dialog.get_by_role("button", name="Done").click()
    expect(page.locator(".runas__role")).to_have_text(name)
    return name


def save(page: Page) -> None:
    page.locator("#save-button").click()
    expect(page).to_have_url(re.compile(r"/workflows/\d+/$"))
    page.wait_for_load_state("load")
    expect(page.locator(".messages")).to_contain_text("Saved")
