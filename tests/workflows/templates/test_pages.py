"""The gallery and "Use template": cards with search and category filter, reachable from the
overview; a form of the template's inputs with errors beside each; a valid form opens an unsaved
draft on the canvas running as the suggested role, which saves into a workflow."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils.html import escape

from directory import services as ds
from directory.actors import Actor
from workflows.builder.drafts import draft_save
from workflows.models import Workflow, WorkflowDraft
from workflows.templates_library import all_templates

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def directory(db):
    ds.user_create(actor=ACTOR, username="ann", email="ann@example.com", department="Sales")
    for name in ("Sales", "VPN Users"):
        ds.group_create(actor=ACTOR, name=name)
    ds.channel_create(actor=ACTOR, name="IT mail", kind="email", recipients=["it@example.com"])


def test_the_overview_leads_to_the_gallery(administrator):
    page = _client(administrator).get("/workflows/").content.decode()
    assert 'href="/workflows/templates/">From a template</a>' in page
    assert "Start from a template" in page  # the empty state


def test_gallery_lists_every_template_with_its_trigger_and_filters(administrator, django_assert_max_num_queries):
    client = _client(administrator)
    with django_assert_max_num_queries(8):
        page = client.get("/workflows/templates/").content.decode()
    for template in all_templates():
        assert f'id="template-{template.key}"' in page and escape(template.description) in page
    assert "Every day at 07:00 UTC" in page and "When a user is created in «Department»" in page
    assert page.count("Use template</a>") == len(all_templates())
    security = client.get("/workflows/templates/", {"category": "security"}, HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in security and 'id="template-mfa-enforcement"' in security
    assert 'id="template-offboarding"' not in security
    found = client.get("/workflows/templates/", {"q": "Termination date"}).content.decode()
    assert 'id="template-offboard-on-termination-date"' in found and 'id="template-mfa-enforcement"' not in found
    none = client.get("/workflows/templates/", {"q": "zebra"}).content.decode()
    assert "No template matches" in none


def test_viewers_see_the_gallery_without_use_buttons_others_are_refused(read_only_admin, outsider):
    page = _client(read_only_admin).get("/workflows/templates/")
    assert page.status_code == 200 and "Use template</a>" not in page.content.decode()
    assert _client(read_only_admin).get("/workflows/templates/offboarding/").status_code == 403
    assert _client(outsider).get("/workflows/templates/").status_code == 403


def test_the_form_asks_only_for_the_inputs_with_pickers(administrator, directory):
    page = _client(administrator).get("/workflows/templates/onboarding-by-department/").content.decode()
    assert '<select id="input-department" name="department"' in page and '<option value="Sales">' in page
    assert 'name="groups" value="VPN Users"' in page  # checkboxes for the groups
    assert 'hx-get="/workflows/pick/user/?field=manager&amp;target=input-manager"' in page
    assert 'hx-get="/workflows/pick/channel/?field=channel&amp;target=input-channel"' in page
    assert 'placeholder="Onboarding: «Department»"' in page
    assert page.count('class="field"') == 5  # four inputs and the name


def test_errors_show_beside_each_input(administrator, directory):
    response = _client(administrator).post(
        "/workflows/templates/onboarding-by-department/",
        {"department": "Sales", "manager": "nobody@example.com", "channel": "IT mail"},
        HTTP_HX_REQUEST="true",
    )
    page = response.content.decode()
    assert "<html" not in page and "Check the 2 inputs marked below." in page
    assert 'id="input-groups-error" role="alert">This input is required.' in page
    assert "No user matches &#x27;nobody@example.com&#x27;." in page
    assert 'value="nobody@example.com"' in page  # what was typed stays
    assert not WorkflowDraft.objects.exists()


def test_a_valid_form_opens_an_unsaved_draft_as_the_suggested_role(administrator, directory):
    client = _client(administrator)
    response = client.post(
        "/workflows/templates/onboarding-by-department/",
        {"department": "sales", "groups": ["Sales", "VPN Users"], "manager": "ann", "channel": "IT mail"},
        HTTP_HX_REQUEST="true",
    )
    draft = WorkflowDraft.objects.get()
    assert response.status_code == 200 and response["HX-Redirect"] == f"/workflows/drafts/{draft.pk}/"
    assert draft.workflow is None and draft.run_as.key == "help-desk" and draft.name == "Onboarding: Sales"
    assert draft.definition["do"][0]["join_groups"]["for"]["in"] == ["Sales", "VPN Users"]
    assert not Workflow.objects.exists()  # nothing runs until saved
    canvas = client.get(f"/workflows/drafts/{draft.pk}/").content.decode()
    assert "Not saved yet" in canvas and "Help Desk" in canvas and 'id="run-button"' not in canvas
    assert "Add user to group" in canvas or "add_to_group" in canvas

    workflow = draft_save(draft=draft, actor=administrator)
    assert workflow.run_as.key == "help-desk" and workflow.enabled and workflow.trigger_event == "user.created"


def test_a_taken_name_is_shown_beside_the_name(administrator, directory):
    client = _client(administrator)
    client.post("/workflows/templates/reactivate-user/", {"name": "Back"})
    WorkflowDraft.objects.all().delete()
    Workflow.objects.create(name="Back", type="manual", run_as_id=1)
    page = client.post("/workflows/templates/reactivate-user/", {"name": "back"}).content.decode()
    assert 'id="input-name-error" role="alert">A workflow named &#x27;back&#x27; already exists' in page
