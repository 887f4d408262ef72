"""The execution history in a real browser, as an IT admin uses it (issue 20's "Done when").

Runs happen in this process, as a worker would run them: ``run_execution`` in a thread while the
browser watches the page, or before it opens. The ``e2e.gate`` action holds a run at one step
until the test lets it go, so the page can be seen while the run is still going.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.db import connection
from playwright.sync_api import Page, expect

from directory import services as directory
from directory.models import AdminRole
from directory.roles import ADMINISTRATOR, HELP_DESK, READ_ONLY
from executions.models import Execution
from executions.tasks import run_execution
from tests.e2e.conftest import screenshot_path
from workflows.actions import registry
from workflows.actions.base import Action, ActionContext, ActionError
from workflows.models import Workflow
from workflows.services import workflow_create, workflow_run, workflow_update

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]


class Gate(Action):
    """Waits until the test opens the gate (at most 20 s), then succeeds."""

    key = "e2e.gate"
    label = "Wait for the test"
    category = description = "test"
    params_schema = {"type": "object", "properties": {}}
    opened = threading.Event()

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        type(self).opened.wait(20)
        return {"waited": True}


class Refuse(Action):
    """Fails with a retryable error every time."""

    key = "e2e.refuse"
    label = "Refuse"
    category = description = "test"
    params_schema = {"type": "object", "properties": {"why": {"type": "string"}}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        raise ActionError(f"refused: {params.get('why', 'no reason')}", retryable=True)


@pytest.fixture(autouse=True)
def e2e_actions(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    registry.all_actions()
    for cls in (Gate, Refuse):
        monkeypatch.setitem(registry._ACTIONS, cls.key, cls())
    Gate.opened = threading.Event()
    yield
    Gate.opened.set()


@pytest.fixture
def ann() -> Any:
    return directory.user_create(actor=None, username="ann", email="ann@example.com", state="active")


@pytest.fixture
def admin_user(make_admin: Callable[..., AbstractUser]) -> AbstractUser:
    return make_admin("admin-ada", ADMINISTRATOR)


@pytest.fixture
def signed_in(page: Page, admin_user: AbstractUser, admin_login: Callable[..., None]) -> Iterator[Page]:
    """An Administrator's page; no Content-Security-Policy violation allowed."""
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    admin_login(page, admin_user.username)
    yield page
    assert violations == []


def _workflow(name: str, do: list[dict[str, Any]], actor: Any = None) -> Workflow:
    return workflow_create(
        name=name,
        definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": do},
        run_as=AdminRole.objects.get(key=ADMINISTRATOR),
        actor=actor,
    )


def _run_in_background(execution_id: int) -> threading.Thread:
    """Run the execution as a worker would, in a thread with its own database connection."""

    def work() -> None:
        try:
            run_execution(execution_id, heartbeat=False)
        finally:
            connection.close()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def _card(page: Page, path_slug: str):
    return page.locator(f"#run-card-{path_slug}")


SLOW = [
    {"title": {"call": "user.update", "with": {"user": "ann", "job_title": "Lead"}}},
    {"hold": {"call": "e2e.gate"}},
    {"dept": {"call": "user.update", "with": {"user": "ann", "department": "Sales"}}},
]


def test_run_from_the_builder_and_watch_steps_appear_live(signed_in: Page, ann, admin_user) -> None:
    page = signed_in
    workflow = _workflow("Promote Ann", SLOW, admin_user)
    page.goto(f"/workflows/{workflow.pk}/")
    page.wait_for_load_state("load")
    page.locator("#run-button").click()
    page.locator("#run-dialog").get_by_role("button", name="Run workflow").first.click()
    expect(page).to_have_url(re.compile(r"/executions/\d+/$"))
    execution = Execution.objects.get(workflow=workflow)
    expect(page.locator("#live")).to_have_attribute("data-status", "queued")
    expect(page.locator(".live-note")).to_contain_text("Live")
    expect(_card(page, "do-0-title")).to_have_attribute("data-status", "pending")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    worker = _run_in_background(execution.pk)
    expect(page.locator("#live")).to_have_attribute("data-status", "running", timeout=8000)
    expect(_card(page, "do-0-title")).to_have_attribute("data-status", "succeeded", timeout=8000)
    expect(_card(page, "do-2-dept")).to_have_attribute("data-status", "pending")
    Gate.opened.set()
    worker.join(20)
    expect(page.locator("#live")).to_have_attribute("data-status", "succeeded", timeout=8000)
    for slug in ("do-0-title", "do-1-hold", "do-2-dept"):
        expect(_card(page, slug)).to_have_attribute("data-status", "succeeded")
    expect(page.locator(".live-note")).to_have_count(0)  # the polling stopped with the run
    assert page.evaluate("window.__sameDocument === true")

    page.locator("#open-run-card-do-2-dept").click()
    panel = page.locator("#step-panel")
    expect(panel.locator(".step-panel__title")).to_be_focused()
    expect(panel).to_contain_text('"department": "Sales"')


BRANCHY = [
    {
        "route": {
            "switch": [
                {"vip": {"when": "{{ input.vip }}", "do": [{"notify_vip": {"call": "e2e.gate"}}]}},
                {"default": {"do": [{"plain": {"call": "user.update", "with": {"user": "ann", "job_title": "IC"}}}]}},
            ]
        }
    },
    {
        "sync": {
            "call": "e2e.refuse",
            "with": {"why": "HR system down"},
            "retry": {"max_attempts": 3, "initial_delay": 0},
        }
    },
]


def test_open_a_skipped_branch_and_a_failed_steps_error_and_attempts(signed_in: Page, ann, admin_user) -> None:
    page = signed_in
    workflow = _workflow("Route people", BRANCHY, admin_user)
    execution = workflow_run(workflow=workflow, input={"vip": False}, actor=admin_user)
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    page.goto(f"/executions/{execution.pk}/")
    expect(page.locator("#execution-error")).to_contain_text("HR system down")

    skipped = _card(page, "do-0-route-switch-0-vip-do-0-notify_vip")
    expect(skipped).to_have_attribute("data-status", "skipped")
    expect(skipped).to_contain_text("Skipped: Branch not taken")
    skipped.locator(".card__title").click()
    panel = page.locator("#step-panel")
    expect(panel.locator(".skip-why")).to_contain_text("Branch not taken")
    expect(panel).to_contain_text("It did not run")
    expect(skipped).to_have_class(re.compile("card--selected"))

    failed = _card(page, "do-1-sync")
    expect(failed).to_have_attribute("data-status", "failed")
    failed.locator(".card__title").click()
    expect(panel.locator(".step-error")).to_contain_text("refused: HR system down")
    expect(panel.locator(".step-attempts")).to_have_text("3")
    attempts = panel.locator(".attempt-log li")
    expect(attempts).to_have_count(2)
    expect(attempts.first).to_contain_text("Attempt 1")
    expect(attempts.first).to_contain_text("retried after")


def test_cancel_a_slow_execution(signed_in: Page, ann, admin_user) -> None:
    page = signed_in
    workflow = _workflow("Slow one", SLOW, admin_user)
    execution = workflow_run(workflow=workflow, input={}, actor=admin_user)
    page.goto(f"/executions/{execution.pk}/")
    worker = _run_in_background(execution.pk)
    expect(page.locator("#live")).to_have_attribute("data-status", "running", timeout=8000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#cancel-button").click()
    expect(page.locator("#cancel-record")).to_contain_text("Cancel requested by admin-ada")
    Gate.opened.set()  # the step in progress finishes; the run stops before the next one
    worker.join(20)
    expect(page.locator("#live")).to_have_attribute("data-status", "cancelled", timeout=8000)
    expect(page.locator("#cancel-record")).to_contain_text("Cancelled by admin-ada")
    dept = _card(page, "do-2-dept")
    expect(dept).to_have_attribute("data-status", "skipped")
    expect(dept).to_contain_text("Execution cancelled")
    ann.refresh_from_db()
    assert ann.department != "Sales"


def test_rerun_a_failed_execution_with_the_latest_version(signed_in: Page, ann, admin_user) -> None:
    page = signed_in
    broken = [{"sync": {"call": "e2e.refuse", "with": {"why": "bad config"}}}]
    workflow = _workflow("Sync titles", broken, admin_user)
    failed = workflow_run(workflow=workflow, input={}, actor=admin_user)
    assert run_execution(failed.pk, heartbeat=False) == "failed"
    fixed = {"dsl": "1.0", "trigger": {"type": "manual"}, "do": SLOW[:1]}
    workflow_update(workflow=workflow, actor=admin_user, definition=fixed)

    page.goto(f"/executions/{failed.pk}/")
    expect(page.locator(".run-head")).to_contain_text("latest is 2")
    page.locator("#rerun-menu summary").click()
    page.get_by_label("The latest version (v2)").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#rerun-submit").click()
    expect(page).not_to_have_url(re.compile(f"/executions/{failed.pk}/$"))
    expect(page).to_have_url(re.compile(r"/executions/\d+/$"))
    rerun = Execution.objects.get(rerun_of=failed)
    assert page.url.endswith(f"/executions/{rerun.pk}/") and rerun.version.number == 2
    expect(page.locator("#rerun-record")).to_contain_text(f"Re-run of execution #{failed.pk} by admin-ada")
    assert run_execution(rerun.pk, heartbeat=False) == "succeeded"
    expect(page.locator("#live")).to_have_attribute("data-status", "succeeded", timeout=8000)
    expect(_card(page, "do-0-title")).to_have_attribute("data-status", "succeeded")


def test_filter_the_history_by_status_and_by_a_user_it_touched(signed_in: Page, ann, admin_user) -> None:
    page = signed_in
    directory.user_create(actor=None, username="bob", email="bob@example.com", state="active")
    suspend = _workflow(
        "Suspend someone", [{"off": {"call": "user.suspend", "with": {"user": "{{ input.who }}"}}}], admin_user
    )
    broken = _workflow("Always fails", [{"x": {"call": "e2e.refuse"}}], admin_user)
    runs = {}
    for key, workflow, data in (
        ("ann", suspend, {"who": "ann"}),
        ("bob", suspend, {"who": "bob"}),
        ("bad", broken, {}),
    ):
        runs[key] = workflow_run(workflow=workflow, input=data, actor=admin_user)
        run_execution(runs[key].pk, heartbeat=False)

    page.goto("/executions/")
    for run in runs.values():
        expect(page.locator(f"#execution-{run.pk}")).to_be_visible()
    page.get_by_label("Status").select_option("failed")
    expect(page).to_have_url(re.compile(r"status=failed"))
    expect(page.locator(f"#execution-{runs['ann'].pk}")).to_have_count(0)
    expect(page.locator(f"#execution-{runs['bad'].pk}")).to_be_visible()
    expect(page.locator("#execution-" + str(runs["bad"].pk))).to_contain_text("Failed")

    page.get_by_label("Status").select_option("")
    page.get_by_label("User or device it touched").fill("bob@example.com")
    page.get_by_label("User or device it touched").press("Enter")
    expect(page.locator(f"#execution-{runs['ann'].pk}")).to_have_count(0)
    expect(page.locator(f"#execution-{runs['bob'].pk}")).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)


@pytest.mark.parametrize("role", [ADMINISTRATOR, READ_ONLY])
def test_administrator_and_read_only_see_steps(role: str, page: Page, make_admin, admin_login, ann, admin_user) -> None:
    workflow = _workflow("Retitle", SLOW[:1], admin_user)
    execution = workflow_run(workflow=workflow, input={}, actor=admin_user)
    run_execution(execution.pk, heartbeat=False)
    viewer = make_admin("viewer-vi", role)
    admin_login(page, viewer.username)
    page.goto(f"/executions/{execution.pk}/")
    page.locator("#open-run-card-do-0-title").click()
    expect(page.locator("#step-panel")).to_contain_text('"job_title": "Lead"')
    expect(page.locator("#step-panel .step-panel__title")).to_be_focused()
    expect(page.locator("#rerun-menu")).to_have_count(1 if role == ADMINISTRATOR else 0)


def test_help_desk_gets_403(page: Page, make_admin, admin_login, admin_user) -> None:
    workflow = _workflow("Hidden", [{"x": {"call": "e2e.refuse"}}], admin_user)
    execution = workflow_run(workflow=workflow, input={}, actor=admin_user)
    helpdesk = make_admin("admin-hal", HELP_DESK)
    admin_login(page, helpdesk.username)
    for url in ("/executions/", f"/executions/{execution.pk}/"):
        response = page.goto(url)
        assert response is not None and response.status == 403, url
        expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()


def test_deleting_a_workflow_keeps_its_history(signed_in: Page, ann, admin_user) -> None:
    page = signed_in
    workflow = _workflow("Short lived", SLOW[:1], admin_user)
    execution = workflow_run(workflow=workflow, input={}, actor=admin_user)
    run_execution(execution.pk, heartbeat=False)
    page.goto(f"/admin/workflows/workflow/{workflow.pk}/delete/")
    expect(page.locator("#content")).to_contain_text("executions and steps are kept")
    page.get_by_role("button", name=re.compile("Yes, I’m sure|Yes, I'm sure")).click()
    page.goto("/workflows/")
    expect(page.get_by_role("link", name="Short lived")).to_have_count(0)
    page.goto(f"/executions/?workflow={workflow.pk}")
    expect(page.locator("#archived-note")).to_contain_text("Short lived was deleted")
    expect(page.locator(f"#execution-{execution.pk}")).to_be_visible()
    page.locator(f"#execution-{execution.pk} a.history-link").click()
    page.locator("#open-run-card-do-0-title").click()
    expect(page.locator("#step-panel")).to_contain_text('"job_title": "Lead"')


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_pages_fit_the_screen(signed_in: Page, ann, admin_user, request, width: int, height: int) -> None:
    """Wide and phone-sized: nothing runs off the side of the page; screenshots kept in test-results/."""
    page = signed_in
    page.set_viewport_size({"width": width, "height": height})
    workflow = _workflow("Route people", BRANCHY, admin_user)
    execution = workflow_run(workflow=workflow, input={"vip": False}, actor=admin_user)
    run_execution(execution.pk, heartbeat=False)
    for name, url in (("history", "/executions/"), ("execution", f"/executions/{execution.pk}/")):
        page.goto(url)
        if name == "execution":
            page.locator("#open-run-card-do-1-sync").click()
            expect(page.locator("#step-panel .step-error")).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        page.screenshot(path=str(screenshot_path(request, f"-{name}")), full_page=True)
        assert overflow <= 0, f"{name} is {overflow}px wider than a {width}px screen"
