"""Who may manage workflows in the Django admin: the permission matrix of issue 5."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from directory.models import AdminRole
from directory.role_services import role_create
from executions.models import Execution
from workflows.models import Workflow
from workflows.services import workflow_create, workflow_run

pytestmark = pytest.mark.django_db

DEFINITION = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "do": [{"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "X"}}}],
}
INLINE = {
    "versions-TOTAL_FORMS": "0",
    "versions-INITIAL_FORMS": "0",
    "versions-MIN_NUM_FORMS": "0",
    "versions-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def workflow(administrator):
    return workflow_create(
        name="retitle", definition=DEFINITION, run_as=AdminRole.objects.get(key="help-desk"), actor=administrator
    )


@pytest.fixture
def callers(administrator, billing_admin, help_desk_admin, read_only_admin, make_admin):
    copycat = role_create(name="Admin copy", based_on=AdminRole.objects.get(key="administrator"), actor=billing_admin)
    custom = make_admin("admin-copy")
    custom.groups.set([copycat.group])
    return {
        "administrator": administrator,
        "billing": billing_admin,
        "help_desk": help_desk_admin,
        "read_only": read_only_admin,
        "custom_admin_copy": custom,
    }


# caller -> (list, add page, change page shows Save, may post changes, may delete)
MATRIX = {
    "administrator": (200, 200, True, True, True),
    "billing": (200, 200, True, True, True),
    "read_only": (200, 403, False, False, False),
    "help_desk": (403, 403, None, False, False),
    "custom_admin_copy": (200, 403, False, False, False),
}


@pytest.mark.parametrize("who", list(MATRIX))
def test_workflow_admin_matrix(client, callers, workflow, who):
    listing, add, shows_save, may_change, may_delete = MATRIX[who]
    client.force_login(callers[who])
    assert client.get(reverse("admin:workflows_workflow_changelist")).status_code == listing
    assert client.get(reverse("admin:workflows_workflow_add")).status_code == add

    change_url = reverse("admin:workflows_workflow_change", args=[workflow.pk])
    page = client.get(change_url)
    if shows_save is None:
        assert page.status_code == 403
    else:
        assert page.status_code == 200
        assert ('name="_save"' in page.content.decode()) is shows_save

    response = client.post(
        change_url,
        {
            "name": "renamed",
            "description": "",
            "run_as": workflow.run_as_id,
            "enabled": "",
            "definition": json.dumps(DEFINITION),
            **INLINE,
        },
    )
    workflow.refresh_from_db()
    if may_change:
        assert response.status_code == 302
        assert (workflow.name, workflow.enabled) == ("renamed", False)
    else:
        assert response.status_code == 403
        assert (workflow.name, workflow.enabled) == ("retitle", True)

    response = client.post(reverse("admin:workflows_workflow_delete", args=[workflow.pk]), {"post": "yes"})
    assert Workflow.objects.live().filter(pk=workflow.pk).exists() is not may_delete  # deleting archives


def test_admin_add_shows_dsl_and_run_as_problems_beside_the_field(client, administrator):
    client.force_login(administrator)
    bad = {**DEFINITION, "do": [{"s": {"call": "user.suspend", "with": {"user": "ann"}}}]}
    response = client.post(
        reverse("admin:workflows_workflow_add"),
        {
            "name": "w",
            "description": "",
            "run_as": AdminRole.objects.get(key="help-desk").pk,
            "enabled": "on",
            "definition": json.dumps(bad),
            **INLINE,
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["definition"]
    assert errors == [
        "do[0].s.call: run-as role Help Desk lacks permission directory.change_user_state needed by user.suspend"
    ]
    assert not Workflow.objects.exists()


@pytest.mark.parametrize(("who", "may_cancel"), [("administrator", True), ("billing", True), ("read_only", False)])
def test_cancel_action_is_for_administrators_only(client, callers, workflow, who, may_cancel, administrator):
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    client.force_login(callers[who])
    url = reverse("admin:executions_execution_changelist")
    page = client.get(url)
    assert page.status_code == 200
    assert ('value="cancel"' in page.content.decode()) is may_cancel
    client.post(url, {"action": "cancel", "_selected_action": [execution.pk]})
    assert Execution.objects.get(pk=execution.pk).status == ("cancelled" if may_cancel else "queued")


def test_admin_save_names_the_narrowest_role_and_warns_about_broad_ones(client, administrator):
    client.force_login(administrator)
    response = client.post(
        reverse("admin:workflows_workflow_add"),
        {
            "name": "broad",
            "description": "",
            "run_as": AdminRole.objects.get(key="administrator").pk,
            "enabled": "on",
            "definition": json.dumps(DEFINITION),
            **INLINE,
        },
        follow=True,
    )
    shown = [str(m) for m in response.context["messages"]]
    assert "Narrowest built-in role that covers this workflow: Help Desk." in shown
    assert "Administrator is broader than this workflow needs; Help Desk covers every action it runs." in shown


def test_admin_pages_lead_to_the_builder(client, administrator, read_only_admin, workflow):
    builder = reverse("workflows:canvas", kwargs={"workflow_id": workflow.pk})
    client.force_login(administrator)
    listing = client.get(reverse("admin:workflows_workflow_changelist")).content.decode()
    assert f'href="{reverse("workflows:create")}" class="addlink">Add workflow in the builder' in listing
    add = client.get(reverse("admin:workflows_workflow_add")).content.decode()
    assert f'<a href="{reverse("workflows:create")}">workflow builder</a>' in add
    change = client.get(reverse("admin:workflows_workflow_change", args=[workflow.pk])).content.decode()
    assert f'href="{builder}">Open in the builder' in change
    assert "collapse" in change  # the raw JSON is an advanced, collapsed fallback
    client.force_login(read_only_admin)
    assert f'href="{builder}"' in client.get(reverse("admin:workflows_workflow_changelist")).content.decode()
