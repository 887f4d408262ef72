"""Draft services: start, update, save through the workflow services, conflicts, problems."""

from __future__ import annotations

import pytest

from directory.models import AdminRole
from workflows.builder.document import EditRefused
from workflows.builder.drafts import (
    DraftConflict,
    draft_create,
    draft_problems,
    draft_save,
    draft_start,
    draft_update,
    new_definition,
)
from workflows.dsl import validate_definition
from workflows.models import Workflow, WorkflowDraft
from workflows.services import WorkflowInvalid, workflow_create, workflow_update

pytestmark = pytest.mark.django_db

DOC = {"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"go": {"call": "user.activate", "with": {"user": "a"}}}]}


@pytest.fixture
def workflow(administrator):
    return workflow_create(name="W", definition=DOC, run_as=AdminRole.objects.get(key="manager"), actor=administrator)


def test_new_definitions_have_their_trigger_card_and_no_tasks():
    assert validate_definition(new_definition("manual")) == []
    assert new_definition("schedule")["trigger"]["cron"] == "0 9 * * 1-5"
    assert [p.path for p in validate_definition(new_definition("event"))] == ["trigger.event"]


def test_one_draft_per_workflow_and_admin(workflow, administrator, billing_admin):
    first = draft_start(workflow=workflow, actor=administrator)
    assert draft_start(workflow=workflow, actor=administrator).pk == first.pk
    assert draft_start(workflow=workflow, actor=billing_admin).pk != first.pk
    assert (first.base_version_id, first.run_as.key, first.name) == (workflow.current_version_id, "manager", "W")


def test_a_refused_edit_leaves_the_draft_as_it_was(workflow, administrator):
    draft = draft_start(workflow=workflow, actor=administrator)

    def half_then_refuse(doc):
        doc["do"] = []
        raise EditRefused("no")

    with pytest.raises(EditRefused):
        draft_update(draft=draft, actor=administrator, edit=half_then_refuse)
    draft.refresh_from_db()
    assert draft.definition == DOC


def test_another_admin_cannot_update_my_draft(workflow, administrator, billing_admin):
    draft = draft_start(workflow=workflow, actor=administrator)
    with pytest.raises(WorkflowDraft.DoesNotExist):
        draft_update(draft=draft, actor=billing_admin, name="mine now")


def test_save_writes_a_version_and_deletes_the_draft(workflow, administrator):
    draft = draft_start(workflow=workflow, actor=administrator)
    draft_update(
        draft=draft, actor=administrator, edit=lambda doc: doc["do"][0]["go"]["with"].update(user="b"), name="W2"
    )
    saved = draft_save(draft=draft, actor=administrator)
    assert (saved.name, saved.current_version.number) == ("W2", 2)
    assert saved.definition["do"][0]["go"]["with"]["user"] == "b"
    assert not WorkflowDraft.objects.exists()


def test_save_refused_keeps_the_draft_and_marks_it(workflow, administrator):
    draft = draft_start(workflow=workflow, actor=administrator)
    draft_update(draft=draft, actor=administrator, edit=lambda doc: doc["do"][0]["go"].update({"with": {}}))
    with pytest.raises(WorkflowInvalid) as refused:
        draft_save(draft=draft, actor=administrator)
    assert [p.path for p in refused.value.problems] == ["do[0].go.with.user"]
    draft.refresh_from_db()
    assert draft.show_problems
    assert [p.path for p in draft_problems(draft=draft, actor=administrator)] == ["do[0].go.with.user"]


def test_save_refuses_a_draft_older_than_the_saved_version(workflow, administrator, billing_admin):
    draft = draft_start(workflow=workflow, actor=administrator)
    workflow_update(workflow=workflow, actor=billing_admin, definition={**DOC, "do": []})
    with pytest.raises(DraftConflict, match="Version 2 of this workflow was saved by admin-bill"):
        draft_save(draft=draft, actor=administrator)
    workflow.refresh_from_db()
    assert workflow.definition["do"] == []


def test_new_workflow_draft_saves_as_a_new_workflow(administrator):
    with pytest.raises(EditRefused, match="name"):
        draft_create(trigger_type="manual", name=" ", description="", actor=administrator)
    draft = draft_create(trigger_type="manual", name="Fresh", description="x", actor=administrator)
    assert [p.path for p in draft_problems(draft=draft, actor=administrator)] == ["run_as"]
    draft_update(draft=draft, actor=administrator, run_as=AdminRole.objects.get(key="read-only"), enabled=False)
    workflow = draft_save(draft=draft, actor=administrator)
    assert Workflow.objects.get(pk=workflow.pk).enabled is False


def test_draft_problems_include_a_taken_name(workflow, administrator):
    draft = draft_create(trigger_type="manual", name="Other", description="", actor=administrator)
    draft, _ = draft_update(draft=draft, actor=administrator, name="W", run_as=AdminRole.objects.get(key="manager"))
    assert [(p.path, p.message) for p in draft_problems(draft=draft, actor=administrator)] == [
        ("name", "A workflow with this name already exists.")
    ]
