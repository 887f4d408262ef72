"""Editing on the canvas: every edit goes to the admin's draft, and Save goes through the services."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from directory.models import AdminRole
from workflows.builder.drafts import draft_update
from workflows.models import Workflow, WorkflowDraft
from workflows.services import workflow_update

pytestmark = pytest.mark.django_db


def url(name, workflow=None, draft=None):
    kwargs = {"workflow_id": workflow.pk} if workflow is not None else {"draft_id": draft.pk}
    return reverse(f"workflows:{name}", kwargs=kwargs)


def test_the_first_edit_starts_a_draft_and_the_workflow_is_untouched(hx, administrator, saved):
    hx.client.force_login(administrator)
    response = hx.post(url("insert", saved), {"kind": "call", "action": "user.activate", "lane": "do", "index": "0"})
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="canvas" class="canvas" aria-label="Workflow canvas" hx-swap-oob="true"' in html
    assert 'id="panel"' in html and "Activate user" in html
    draft = WorkflowDraft.objects.get(workflow=saved, owner=administrator)
    assert [next(iter(t)) for t in draft.definition["do"]] == ["activate", "suspend", "check"]
    assert draft.base_version_id == saved.current_version_id
    saved.refresh_from_db()
    assert [next(iter(t)) for t in saved.definition["do"]] == ["suspend", "check"]
    # A reload (or a second tab) shows the draft, with the unsaved-changes bar.
    page = hx.client.get(url("canvas", saved)).content.decode()
    assert "You have unsaved changes." in page
    assert page.index("Activate user") < page.index("Suspend user")


def test_move_between_lanes_duplicate_and_delete(hx, administrator, saved):
    hx.client.force_login(administrator)
    moved = hx.post(
        url("move", saved), {"path": "do[0].suspend", "lane": "do[1].check.switch[1].default.do", "index": "0"}
    )
    assert moved.status_code == 200
    draft = WorkflowDraft.objects.get(workflow=saved)
    assert draft.definition["do"][0]["check"]["switch"][1]["default"]["do"][0] == {
        "suspend": MANUAL_SUSPEND,
    }
    hx.post(url("duplicate", saved), {"path": "do[0].check.switch[0].branch_1.do[0].retitle"})
    hx.post(url("move", saved), {"path": "do[0].check.switch[0].branch_1.do[1].retitle_2", "direction": "up"})
    draft.refresh_from_db()
    branch = draft.definition["do"][0]["check"]["switch"][0]["branch_1"]["do"]
    assert [next(iter(t)) for t in branch] == ["retitle_2", "retitle"]
    hx.post(url("delete", saved), {"path": "do[0].check"})
    draft.refresh_from_db()
    assert draft.definition["do"] == []


MANUAL_SUSPEND = {"call": "user.suspend", "with": {"user": "{{ input.email }}"}}


def test_an_impossible_edit_is_refused_with_a_message(hx, administrator, saved):
    hx.client.force_login(administrator)
    response = hx.post(url("move", saved), {"path": "do[0].suspend", "direction": "up"})
    assert response.status_code == 200
    assert "already the first" in json.loads(response["HX-Trigger"])["keyflow:notice"]
    response = hx.post(url("insert", saved), {"kind": "call", "action": "user.vanish", "lane": "do", "index": "0"})
    assert "There is no action" in json.loads(response["HX-Trigger"])["keyflow:notice"]


def test_panel_change_writes_the_task_and_refreshes_only_the_messages(hx, administrator, saved):
    hx.client.force_login(administrator)
    response = hx.post(
        url("panel", saved),
        {"path": "do[0].suspend", "name": "suspend", "param:user": "ann@example.com", "description": "Bye"},
    )
    html = response.content.decode()
    assert 'id="err-with-user" hx-swap-oob="true"' in html  # messages only, the panel is left as typed
    assert 'id="panel-form"' not in html
    task = WorkflowDraft.objects.get(workflow=saved).definition["do"][0]["suspend"]
    assert task == {"call": "user.suspend", "with": {"user": "ann@example.com"}, "description": "Bye"}
    assert "Suspend ann@example.com" in html  # the card's summary, redrawn


def test_panel_rename_and_a_button_redraw_the_panel(hx, administrator, saved):
    hx.client.force_login(administrator)
    response = hx.post(url("panel", saved), {"path": "do[0].suspend", "name": "suspend_leaver", "param:user": "x"})
    assert 'value="do[0].suspend_leaver"' in response.content.decode()
    draft = WorkflowDraft.objects.get(workflow=saved)
    assert next(iter(draft.definition["do"][0])) == "suspend_leaver"
    response = hx.post(
        url("panel", saved),
        {
            "path": "do[0].suspend_leaver",
            "name": "suspend_leaver",
            "param:user": "x",
            "guard_enabled": "on",
            "if:mode": "rules",
            "if:items": "r1",
            "if:r1-left": "{{ input.email }}",
            "if:r1-op": "exists",
            "op": "cond:if:add-row",
        },
    )
    html = response.content.decode()
    assert 'id="panel-form"' in html
    assert 'name="if:r2-left"' in html and "autofocus" in html
    task = WorkflowDraft.objects.get(workflow=saved).definition["do"][0]["suspend_leaver"]
    assert task["if"] == {"left": "{{ input.email }}", "op": "exists"}


def test_trigger_panel_writes_input_fields(hx, administrator, saved):
    hx.client.force_login(administrator)
    hx.post(
        url("trigger", saved),
        {
            "input-rows": ["f1", "f2"],
            "input-f1-name": "email",
            "input-f1-type": "string",
            "input-f1-required": "on",
            "input-f2-name": "days",
            "input-f2-type": "integer",
        },
    )
    draft = WorkflowDraft.objects.get(workflow=saved)
    assert draft.definition["input"]["schema"] == {
        "type": "object",
        "properties": {"email": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["email"],
    }


def test_save_refused_marks_each_bad_card_then_saves_a_new_version(hx, administrator, saved):
    hx.client.force_login(administrator)
    hx.post(url("insert", saved), {"kind": "loop", "lane": "do", "index": "2"})
    hx.post(url("insert", saved), {"kind": "call", "action": "user.update", "lane": "do", "index": "3"})
    response = hx.post(url("save", saved), {"panel_path": "do[3].update"})
    html = response.content.decode()
    assert "problems to fix before saving" in html
    assert html.count("card--invalid") == 2
    assert 'id="err-with-user"' in html and "missing required param" in html  # beside the field in the open panel
    saved.refresh_from_db()
    assert saved.current_version.number == 1
    draft = WorkflowDraft.objects.get(workflow=saved)
    assert draft.show_problems

    def fix(doc):
        doc["do"][2]["for_each"]["for"]["in"] = "{{ [input.email] }}"
        doc["do"][2]["for_each"]["do"] = [{"inner": {"call": "user.activate", "with": {"user": "{{ item }}"}}}]
        doc["do"][3]["update"]["with"] = {"user": "{{ input.email }}", "department": "Alumni"}

    draft_update(draft=draft, actor=administrator, edit=fix)
    response = hx.post(url("save", saved))
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("canvas", saved)
    saved.refresh_from_db()
    assert saved.current_version.number == 2
    assert not WorkflowDraft.objects.filter(workflow=saved).exists()


def test_a_draft_older_than_the_saved_version_is_refused(hx, administrator, billing_admin, saved):
    hx.client.force_login(administrator)
    hx.post(url("delete", saved), {"path": "do[1].check"})
    changed = {**saved.definition, "do": saved.definition["do"][:1]}
    changed["do"] = [{"other": {"call": "user.activate", "with": {"user": "x"}}}]
    workflow_update(workflow=saved, actor=billing_admin, definition=changed)
    response = hx.post(url("save", saved))
    html = response.content.decode()
    assert "Can't save: the workflow changed meanwhile." in html
    assert "Version 2 of this workflow was saved by admin-bill" in html
    saved.refresh_from_db()
    assert saved.current_version.definition == changed  # not overwritten
    hx.post(url("discard", saved))
    assert not WorkflowDraft.objects.exists()


def test_create_dialog_then_first_save_creates_an_enabled_workflow(hx, administrator):
    hx.client.force_login(administrator)
    step_two = hx.post(reverse("workflows:create"), {"action": "next", "type": "manual"}).content.decode()
    assert 'name="name"' in step_two and 'value="manual"' in step_two
    back = hx.post(reverse("workflows:create"), {"action": "back", "type": "event", "name": "X"}).content.decode()
    assert 'value="event" checked' in back and 'value="X"' in back
    done = hx.post(
        reverse("workflows:create"), {"action": "done", "type": "manual", "name": "Leaver", "description": "d"}
    )
    draft = WorkflowDraft.objects.get(owner=administrator)
    assert done["HX-Redirect"] == url("canvas", draft=draft)
    assert draft.workflow is None and draft.definition["trigger"] == {"type": "manual"}
    hx.post(url("insert", draft=draft), {"kind": "call", "action": "user.activate", "lane": "do", "index": "0"})
    hx.post(url("panel", draft=draft), {"path": "do[0].activate", "name": "activate", "param:user": "ann"})
    refused = hx.post(url("save", draft=draft)).content.decode()
    assert "Choose the role this workflow runs as." in refused
    hx.post(url("run-as", draft=draft), {"role": AdminRole.objects.get(key="manager").pk})
    response = hx.post(url("save", draft=draft))
    workflow = Workflow.objects.get(name="Leaver")
    assert response["HX-Redirect"] == url("canvas", workflow)
    assert workflow.enabled and workflow.run_as.key == "manager" and workflow.description == "d"


def test_a_new_workflow_can_be_saved_disabled(hx, administrator):
    hx.client.force_login(administrator)
    hx.post(reverse("workflows:create"), {"action": "done", "type": "manual", "name": "Quiet"})
    draft = WorkflowDraft.objects.get()
    hx.post(reverse("workflows:draft-enabled", args=[draft.pk]), {})
    hx.post(url("run-as", draft=draft), {"role": AdminRole.objects.get(key="read-only").pk})
    hx.post(url("save", draft=draft))
    assert Workflow.objects.get(name="Quiet").enabled is False


def test_create_refuses_a_taken_name(hx, administrator, saved):
    hx.client.force_login(administrator)
    html = hx.post(
        reverse("workflows:create"), {"action": "done", "type": "manual", "name": "offboard"}
    ).content.decode()
    assert "A workflow with this name already exists." in html
    assert "already exists" in hx.get(reverse("workflows:create-name"), {"name": "Offboard"}).content.decode()
    assert "is available" in hx.get(reverse("workflows:create-name"), {"name": "Fresh"}).content.decode()


def test_json_view_applies_a_document_and_refuses_one_the_canvas_cannot_draw(hx, administrator, saved):
    hx.client.force_login(administrator)
    page = hx.client.get(url("json", saved)).content.decode()
    assert "&quot;suspend&quot;" in page
    bad = hx.post(url("json", saved), {"definition": '{"dsl": "1.0", "trigger": {"type": "manual"}, "do": [1]}'})
    assert "The canvas cannot show this document" in bad.content.decode()
    assert not WorkflowDraft.objects.exists()
    doc = {
        "dsl": "1.0",
        "trigger": {"type": "manual"},
        "do": [{"go": {"call": "user.activate", "with": {"user": "a"}}}],
    }
    good = hx.post(url("json", saved), {"definition": json.dumps(doc)})
    assert good["HX-Redirect"] == url("canvas", saved)
    assert WorkflowDraft.objects.get().definition == doc
    with_problems = {**doc, "do": [{"go": {"call": "user.activate", "with": {}}}]}
    listed = hx.post(url("json", saved), {"definition": json.dumps(with_problems)}).content.decode()
    assert "missing required param" in listed and "do[0].go.with.user" in listed
    assert WorkflowDraft.objects.get().show_problems
    assert "Not valid JSON" in hx.post(url("json", saved), {"definition": "{"}).content.decode()


def test_rename_in_place_goes_to_the_draft(hx, administrator, saved):
    hx.client.force_login(administrator)
    html = hx.post(url("details", saved), {"name": "Offboard leavers"}).content.decode()
    assert 'id="editor-top" hx-swap-oob="true"' in html and 'value="Offboard leavers"' in html
    assert WorkflowDraft.objects.get().name == "Offboard leavers"
    saved.refresh_from_db()
    assert saved.name == "Offboard"
    hx.post(url("save", saved))
    saved.refresh_from_db()
    assert saved.name == "Offboard leavers"


def test_opening_a_panel_leaves_the_canvas_alone(hx, administrator, saved):
    hx.client.force_login(administrator)
    html = hx.get(url("panel", saved), {"path": "do[0].suspend"}).content.decode()
    assert 'id="panel"' in html and 'data-card="card-do-0-suspend"' in html
    assert 'id="canvas"' not in html
    assert not WorkflowDraft.objects.exists()  # looking is not editing
