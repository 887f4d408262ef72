"""The workflow builder in a real browser, as an IT admin uses it (issue 19's "Done when")."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page, expect

from directory import services as directory
from directory.models import User, UserGroup
from directory.roles import HELP_DESK, READ_ONLY
from executions.models import Execution
from executions.tasks import run_execution
from tests.e2e import builder_steps as steps
from workflows.models import Workflow, WorkflowDraft

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("builtin_roles")]


@pytest.fixture
def directory_data() -> dict[str, object]:
    ann = directory.user_create(
        actor=None, username="ann", email="ann@example.com", first_name="Ann", state="active", department="Engineering"
    )
    engineering = directory.group_create(actor=None, name="Engineering")
    directory.group_create(actor=None, name="Alumni")
    directory.group_add_member(group=engineering, user=ann, actor=None)
    return {"ann": ann, "engineering": engineering}


def test_build_refuse_fix_save_and_run_a_manual_workflow(administrator_page: Page, directory_data, request) -> None:
    page = administrator_page
    steps.create_workflow(page, "Manual", "Offboard a team")

    # The trigger card: the input an admin gives when running it.
    page.locator("#open-trigger").click()
    for number, name in enumerate(("department", "kind"), start=1):
        page.get_by_role("button", name="+ Add input field").click()
        field = page.locator(f"#input-f{number}-name")
        expect(field).to_be_focused()
        field.fill(name)
        field.press("Tab")
        steps.settle(page)
    page.locator('[name="input-f1-required"]').check()
    steps.settle(page)
    expect(page.locator("#card-trigger")).to_contain_text("Run by an admin with input: department, kind")

    # If / else on an input field, built with the variable picker and the condition rows.
    steps.add_task(page, "#add-do-0", "Flows", "If / else")
    expect(page.locator("#case0-r1-left")).to_be_focused()
    steps.insert_variable(page, "case0-r1-left", "kind", "input.kind")
    page.locator("#case0-r1-op").select_option("eq")
    page.locator("#case0-r1-right").fill("contractor")
    page.locator("#case0-r1-right").press("Tab")
    steps.settle(page)
    expect(page.locator("#card-do-0-check .card__summary")).to_have_text("If kind equals contractor")

    # An action in the If branch, left without its user for now; a lookup; a loop, left empty.
    steps.add_task(page, "#lane-do-0-check-switch-0-branch_1-do .add-btn", "Actions", "Suspend user")
    steps.add_task(page, "#add-do-1", "Actions", "Find users")
    steps.insert_variable(page, "param-department", "department", "input.department")
    steps.settle(page)
    steps.add_task(page, "#add-do-2", "Flows", "Loop")
    steps.settle(page)

    # Save is refused: every bad card outlined, the bar counts the problems.
    page.locator("#save-button").click()
    expect(page.locator("#savebar")).to_contain_text("problems to fix before saving")
    expect(page.locator("#savebar")).to_contain_text("Choose the role this workflow runs as.")
    suspend_card = "card-do-0-check-switch-0-branch_1-do-0-suspend"
    expect(page.locator(f"#{suspend_card}")).to_have_class(re.compile("card--invalid"))
    expect(page.locator("#card-do-2-for_each")).to_have_class(re.compile("card--invalid"))
    expect(page.locator("#card-do-0-check")).not_to_have_class(re.compile("card--invalid"))
    expect(page.locator("#card-do-1-find")).not_to_have_class(re.compile("card--invalid"))
    assert Workflow.objects.count() == 0
    page.screenshot(path=str(steps_screenshot(request, "-refused")), full_page=True)

    # Fix them: the suspended user from the object picker …
    steps.open_card(page, suspend_card)
    expect(page.locator("#err-with-user")).to_contain_text("missing required param 'user'")
    steps.pick_object(page, "param-user", "ann", "ann@example.com")
    steps.settle(page)
    expect(page.locator("#err-with-user")).to_be_empty()
    expect(page.locator(f"#{suspend_card}")).not_to_have_class(re.compile("card--invalid"))

    # … the loop over the lookup's output, with a task inside that uses the loop item's fields …
    steps.open_card(page, "card-do-2-for_each")
    steps.insert_variable(page, "for-in", "items", "steps.find.output.items")
    page.locator("#for-each").fill("person")
    page.locator("#for-each").press("Tab")
    steps.settle(page)
    steps.add_task(page, "#add-do-2-for_each-do-0", "Actions", "Remove user from group")
    steps.insert_variable(page, "param-user", "person.email", "person.email")
    steps.pick_object(page, "param-group", "eng", "Engineering")
    steps.settle(page)
    expect(page.locator("#card-do-2-for_each-do-0-remove_from_group .card__summary")).to_have_text(
        "Remove {{ person.email }} from Engineering"
    )

    # … and an action in the Otherwise branch with both its user and its group from object pickers.
    steps.add_task(page, "#lane-do-0-check-switch-1-default-do .add-btn", "Actions", "Add user to group")
    steps.pick_object(page, "param-user", "ann", "ann@example.com")
    steps.pick_object(page, "param-group", "alu", "Alumni")
    steps.settle(page)

    role = steps.choose_suggested_role(page)
    expect(page.locator("#savebar")).not_to_contain_text("problems")
    steps.save(page)
    workflow = Workflow.objects.get(name="Offboard a team")
    assert (workflow.enabled, workflow.run_as.name, workflow.current_version.number) == (True, role, 1)
    assert not WorkflowDraft.objects.exists()

    # Run it with input from the Run dialog and land on the execution.
    page.locator("#run-button").click()
    dialog = page.locator("#run-dialog")
    expect(dialog.get_by_label("Department")).to_be_focused()
    dialog.get_by_label("Department").fill("Engineering")
    dialog.get_by_label("Kind").fill("employee")
    dialog.get_by_role("button", name="Run workflow").first.click()
    expect(page).to_have_url(re.compile(r"/executions/\d+/$"))
    execution = Execution.objects.get(workflow=workflow)
    assert page.url.endswith(f"/executions/{execution.pk}/")
    assert execution.input == {"department": "Engineering", "kind": "employee"}

    # The workflow as built really runs: not a contractor, so Ann joins Alumni; the lookup finds the
    # Engineering department's people, and the loop takes each out of the Engineering group.
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    ann = User.objects.get(username="ann")
    assert sorted(g.name for g in ann.groups.all()) == ["Alumni"]


def steps_screenshot(request: pytest.FixtureRequest, suffix: str):
    from tests.e2e.conftest import screenshot_path

    return screenshot_path(request, suffix)


def test_run_dialog_checks_input_before_starting(administrator_page: Page, directory_data) -> None:
    from directory.models import AdminRole
    from workflows.services import workflow_create

    workflow = workflow_create(
        name="Suspend someone",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "input": {"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}},
            "do": [{"suspend": {"call": "user.suspend", "with": {"user": "{{ input.email }}"}}}],
        },
        run_as=AdminRole.objects.get(key="manager"),
        actor=None,
    )
    page = administrator_page
    page.goto(f"/workflows/{workflow.pk}/")
    page.locator("#run-button").click()
    dialog = page.locator("#run-dialog")
    expect(dialog.get_by_label("Email")).to_be_focused()
    dialog.get_by_role("button", name="Run workflow").first.click()
    expect(dialog).to_contain_text("This field is required.")
    dialog.get_by_role("tab", name="JSON").click()
    dialog.get_by_label("Input JSON").fill('{"email": 42}')
    dialog.locator("#run-pane-json").get_by_role("button", name="Run workflow").click()
    expect(dialog).to_contain_text("42 is not of type 'string'")
    assert not Execution.objects.exists()


def drag(page: Page, source: str, target: str, *, below: bool = True) -> None:
    """Drag a card by its handle onto another card (Sortable.js, mouse events), both in view."""
    page.locator(f"#{target}").evaluate("el => el.scrollIntoView({block: 'center'})")
    handle = page.locator(f"#{source} .card__handle").first
    box = handle.bounding_box()
    goal = page.locator(f"#{target}").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    # Below: over the + under the card (the lower half of its place in the lane); above: its top.
    y = goal["y"] + (goal["height"] + 20 if below else goal["height"] * 0.1)
    for fraction in (0.25, 0.5, 0.75, 1.0):
        page.mouse.move(
            box["x"] + (goal["x"] + goal["width"] / 2 - box["x"]) * fraction,
            box["y"] + (y - box["y"]) * fraction,
            steps=4,
        )
    page.mouse.up()


def test_reorder_by_drag_and_drop_and_move_between_branches(administrator_page: Page) -> None:
    from directory.models import AdminRole
    from workflows.services import workflow_create

    def call(user: str) -> dict:
        return {"call": "user.activate", "with": {"user": user}}

    workflow = workflow_create(
        name="Shuffle",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [
                {"first": call("a")},
                {"second": call("b")},
                {
                    "check": {
                        "switch": [
                            {"branch_1": {"when": "true", "do": [{"left_task": call("c")}]}},
                            {"default": {"do": [{"right_task": call("d")}]}},
                        ]
                    }
                },
            ],
        },
        run_as=AdminRole.objects.get(key="manager"),
        actor=None,
    )
    page = administrator_page
    page.goto(f"/workflows/{workflow.pk}/")

    drag(page, "card-do-0-first", "card-do-1-second", below=True)
    expect(page.locator("#card-do-0-second")).to_be_visible()
    expect(page.locator("#card-do-1-first")).to_be_visible()
    draft = WorkflowDraft.objects.get(workflow=workflow)
    assert [next(iter(t)) for t in draft.definition["do"]] == ["second", "first", "check"]

    drag(page, "card-do-2-check-switch-0-branch_1-do-0-left_task", "card-do-2-check-switch-1-default-do-0-right_task")
    expect(page.locator("#card-do-2-check-switch-1-default-do-1-left_task")).to_be_visible()
    draft.refresh_from_db()
    cases = draft.definition["do"][2]["check"]["switch"]
    assert cases[0]["branch_1"]["do"] == []
    assert [next(iter(t)) for t in cases[1]["default"]["do"]] == ["right_task", "left_task"]

    # The keyboard way: the card's menu moves it up.
    page.locator("#card-do-1-first .card__menu summary").click()
    page.locator("#card-do-1-first").get_by_role("button", name="Move up").click()
    expect(page.locator("#open-do-0-first")).to_be_focused()
    expect(page.locator("#savebar")).to_contain_text("unsaved changes")

    # Leaving with a draft warns (the draft is kept on the server either way).
    seen: list[str] = []
    page.on("dialog", lambda dialog: (seen.append(dialog.type), dialog.dismiss()))
    page.close(run_before_unload=True)
    page.wait_for_timeout(500)
    assert seen == ["beforeunload"]


def test_event_workflow_fires_when_a_user_is_created_in_the_admin(
    administrator_page: Page, directory_data, settings
) -> None:
    settings.KEYFLOW_DISPATCH_INLINE = True
    page = administrator_page
    steps.create_workflow(page, "Directory event", "Onboard engineers")
    page.locator("#open-trigger").click()
    page.locator("#event-search").fill("created")
    page.get_by_role("radio", name=re.compile("A user is created")).check()
    steps.settle(page)
    page.get_by_label("Only when a condition holds (filter)").check()
    steps.insert_variable(page, "when-r1-left", "department", "event.user.department")
    page.locator("#when-r1-right").fill("Engineering")
    page.locator("#when-r1-right").press("Tab")
    steps.settle(page)
    expect(page.locator("#card-trigger")).to_contain_text("When a user is created in Engineering")

    steps.add_task(page, "#add-do-0", "Actions", "Add user to group")
    steps.insert_variable(page, "param-user", "email", "event.user.email")
    steps.pick_object(page, "param-group", "eng", "Engineering")
    steps.settle(page)
    steps.choose_suggested_role(page)
    steps.save(page)
    workflow = Workflow.objects.get(name="Onboard engineers")
    assert workflow.trigger_event == "user.created"

    # Create two users in the Django admin; only the engineer starts the workflow.
    for username, department in (("eve", "Engineering"), ("sam", "Sales")):
        page.goto("/admin/directory/user/add/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Email").fill(f"{username}@example.com")
        page.get_by_label("Department").fill(department)
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")
    (execution,) = Execution.objects.filter(workflow=workflow)
    assert execution.event.resource_name == "eve@example.com"
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    assert UserGroup.objects.get(name="Engineering").members.filter(username="eve").exists()


def test_json_view_edits_and_the_canvas_follows(administrator_page: Page) -> None:
    from directory.models import AdminRole
    from workflows.services import workflow_create

    workflow = workflow_create(
        name="Small",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [{"one": {"call": "user.activate", "with": {"user": "a"}}}],
        },
        run_as=AdminRole.objects.get(key="manager"),
        actor=None,
    )
    page = administrator_page
    page.goto(f"/workflows/{workflow.pk}/")
    page.get_by_role("link", name="JSON").click()
    text = page.locator("#json-definition")
    document = json.loads(text.input_value())
    document["do"].append({"two": {"call": "user.suspend", "with": {}}})
    text.fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#json-view")).to_contain_text("missing required param 'user'")
    expect(page.locator("#json-view")).to_contain_text("do[1].two.with.user")
    document["do"][1]["two"]["with"]["user"] = "bob"
    page.locator("#json-definition").fill(json.dumps(document, indent=2))
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.pk}/$"))
    page.wait_for_load_state("load")
    expect(page.locator("#card-do-1-two .card__summary")).to_have_text("Suspend bob")
    steps.save(page)
    workflow.refresh_from_db()
    assert workflow.current_version.number == 2 and workflow.definition == document


def test_help_desk_sees_no_edit_controls_and_is_refused_every_post(
    page: Page, make_admin: Callable[..., AbstractUser], admin_login: Callable[..., None]
) -> None:
    from directory.models import AdminRole
    from workflows.services import workflow_create

    workflow = workflow_create(
        name="Guarded",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [{"one": {"call": "user.activate", "with": {"user": "a"}}}],
        },
        run_as=AdminRole.objects.get(key="manager"),
        actor=None,
    )
    helpdesk = make_admin("admin-hal", HELP_DESK)
    admin_login(page, helpdesk.username)
    response = page.goto("/workflows/")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", name="You don't have access to this page")).to_be_visible()
    expect(page.locator(".add-btn, #save-button, summary:has-text('Add')")).to_have_count(0)
    response = page.goto(f"/workflows/{workflow.pk}/")
    assert response is not None and response.status == 403
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for path in ("cards/insert/", "cards/delete/", "save/", "run-as/", "json/"):
        answer = page.request.post(
            f"/workflows/{workflow.pk}/{path}",
            form={"kind": "call", "action": "user.suspend", "lane": "do", "index": "0", "path": "do[0].one"},
            headers={"X-CSRFToken": csrf, "HX-Request": "true"},
        )
        assert answer.status == 403, path
    assert page.request.post(f"/workflows/{workflow.pk}/enabled/", headers={"X-CSRFToken": csrf}).status == 403
    workflow.refresh_from_db()
    assert workflow.enabled and workflow.current_version.number == 1 and not WorkflowDraft.objects.exists()


def test_read_only_admin_sees_the_workflow_without_edit_controls(
    page: Page, make_admin: Callable[..., AbstractUser], admin_login: Callable[..., None]
) -> None:
    from directory.models import AdminRole
    from workflows.services import workflow_create

    workflow_create(
        name="Visible",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [{"one": {"call": "user.activate", "with": {"user": "a"}}}],
        },
        run_as=AdminRole.objects.get(key="manager"),
        actor=None,
    )
    reader = make_admin("admin-rox", READ_ONLY)
    admin_login(page, reader.username)
    page.goto("/workflows/")
    expect(page.get_by_role("link", name="Visible")).to_be_visible()
    expect(page.locator("summary", has_text="Add")).to_have_count(0)
    expect(page.get_by_role("switch", name="Visible enabled")).to_be_disabled()
    page.get_by_role("link", name="Visible").click()
    expect(page.locator(".tag", has_text="Read only")).to_be_visible()
    expect(page.locator(".add-btn, .card__handle, #run-as-select, #run-button")).to_have_count(0)
    page.locator("#open-do-0-one").click()
    expect(page.locator("#panel-form").get_by_label("Task name")).to_be_disabled()
