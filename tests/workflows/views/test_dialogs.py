"""The Run, Run-as, picker and search dialogs, and the trigger panels."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from directory import services as directory_services
from directory.models import AdminRole
from executions.models import Execution
from workflows.builder.drafts import draft_create
from workflows.models import WorkflowDraft

pytestmark = pytest.mark.django_db


def test_run_dialog_form_is_built_from_the_input_schema(hx, administrator, saved):
    hx.client.force_login(administrator)
    html = hx.get(reverse("workflows:run", args=[saved.pk])).content.decode()
    assert 'name="input:email"' in html and "Input JSON" in html and 'role="tab"' in html


def test_run_refuses_bad_input_beside_the_field_and_starts_nothing(hx, administrator, saved):
    hx.client.force_login(administrator)
    html = hx.post(reverse("workflows:run", args=[saved.pk]), {"mode": "form", "input:email": ""}).content.decode()
    assert "This field is required." in html
    html = hx.post(reverse("workflows:run", args=[saved.pk]), {"mode": "json", "input_json": "[1"}).content.decode()
    assert "Not valid JSON" in html
    html = hx.post(
        reverse("workflows:run", args=[saved.pk]), {"mode": "json", "input_json": '{"email": 5}'}
    ).content.decode()
    assert "input.email: 5 is not of type" in html
    assert not Execution.objects.exists()


def test_run_starts_an_execution_and_goes_to_its_page(hx, administrator, saved):
    hx.client.force_login(administrator)
    response = hx.post(reverse("workflows:run", args=[saved.pk]), {"mode": "form", "input:email": "ann@example.com"})
    execution = Execution.objects.get()
    assert response["HX-Redirect"] == f"/executions/{execution.pk}/"
    assert (execution.input, execution.started_by, execution.trigger_kind) == (
        {"email": "ann@example.com"},
        administrator,
        "manual",
    )
    response = hx.post(
        reverse("workflows:run", args=[saved.pk]), {"mode": "json", "input_json": json.dumps({"email": "b@x.com"})}
    )
    assert Execution.objects.count() == 2 and response.status_code == 200


def test_run_of_a_disabled_workflow_is_refused(hx, administrator, saved):
    saved.enabled = False
    saved.save()
    hx.client.force_login(administrator)
    html = hx.post(
        reverse("workflows:run", args=[saved.pk]), {"mode": "form", "input:email": "a@x.com"}
    ).content.decode()
    assert "disabled" in html and not Execution.objects.exists()


def test_run_as_dialog_suggests_the_narrowest_role_and_names_what_is_lacking(hx, administrator, saved):
    hx.client.force_login(administrator)
    url = reverse("workflows:run-as", kwargs={"workflow_id": saved.pk})
    html = hx.get(url).content.decode()
    # Suspending needs change_user_state and updating change_user: the narrowest built-in role with both.
    assert "Suggested: <strong>Command Runner with User Management</strong>" in html
    assert "Least privilege:" in html  # it runs as Administrator now
    help_desk = AdminRole.objects.get(key="help-desk")
    html = hx.post(url, {"role": help_desk.pk}).content.decode()
    assert "Help Desk cannot run this workflow" in html
    assert "Suspend user (<code>suspend</code>) needs <code>directory.change_user_state</code>" in html
    assert 'id="editor-top" hx-swap-oob="true"' in html  # the top bar follows
    assert WorkflowDraft.objects.get().run_as == help_desk
    manager = AdminRole.objects.get(key="manager")
    html = hx.post(url, {"role": manager.pk}).content.decode()
    assert "Manager covers every action of this workflow." in html


def test_picker_lists_actions_from_the_registry_by_category_and_flows(hx, administrator, saved):
    from workflows.actions.registry import all_actions

    hx.client.force_login(administrator)
    html = hx.get(
        reverse("workflows:picker", kwargs={"workflow_id": saved.pk}), {"lane": "do", "index": 1}
    ).content.decode()
    for action in all_actions():
        assert escape(action.label) in html and f"<h3>{escape(action.category)}</h3>" in html
    assert "If / else" in html and "Loop" in html
    assert "&quot;index&quot;: &quot;1&quot;" in html or '"index": "1"' in html


def test_object_search_returns_matches_as_natural_keys(hx, administrator):
    directory_services.user_create(actor=None, username="ann", email="ann@example.com", first_name="Ann")
    directory_services.user_create(actor=None, username="bob", email="bob@example.com")
    directory_services.group_create(actor=None, name="Engineering")
    hx.client.force_login(administrator)
    html = hx.get(
        reverse("workflows:pick", args=["user"]), {"field": "param:user", "param:user": "an", "target": "param-user"}
    ).content.decode()
    assert 'data-pick="ann@example.com"' in html and "bob" not in html and 'data-pick-target="param-user"' in html
    html = hx.get(reverse("workflows:pick", args=["group"]), {"field": "q", "q": "eng"}).content.decode()
    assert 'data-pick="Engineering"' in html
    assert "No user group matches" in hx.get(reverse("workflows:pick", args=["group"]), {"q": "zzz"}).content.decode()
    assert hx.get(reverse("workflows:pick", args=["spaceship"])).status_code == 404


def test_event_trigger_panel_writes_the_event_and_its_filter(hx, administrator):
    draft = draft_create(trigger_type="event", name="On hire", description="", actor=administrator)
    hx.client.force_login(administrator)
    url = reverse("workflows:trigger", kwargs={"draft_id": draft.pk})
    html = hx.get(url).content.decode()
    assert "A user is created" in html and "user_group.member_added" in html
    hx.post(
        url,
        {
            "event": "user.created",
            "filter_enabled": "on",
            "when:mode": "rules",
            "when:items": "r1",
            "when:r1-left": "{{ event.user.department }}",
            "when:r1-op": "eq",
            "when:r1-right": "Engineering",
        },
    )
    draft.refresh_from_db()
    assert draft.definition["trigger"] == {
        "type": "event",
        "event": "user.created",
        "when": {"left": "{{ event.user.department }}", "op": "eq", "right": "Engineering"},
    }
    canvas = hx.client.get(reverse("workflows:canvas", kwargs={"draft_id": draft.pk})).content.decode()
    assert "When a user is created in Engineering" in canvas
    panel = hx.get(url).content.decode()  # the filter reopens as rows
    assert 'value="{{ event.user.department }}"' in panel and 'value="Engineering"' in panel
    assert 'value="user.created" checked' in panel


def test_schedule_trigger_panel_previews_the_next_runs(hx, administrator):
    draft = draft_create(trigger_type="schedule", name="Daily", description="", actor=administrator)
    hx.client.force_login(administrator)
    url = reverse("workflows:trigger", kwargs={"draft_id": draft.pk})
    html = hx.post(
        url, {"schedule_mode": "recurring", "cron": "", "timezone": "Asia/Tokyo", "op": "preset:0 9 * * 1"}
    ).content.decode()
    assert "Every Monday at 09:00" in html and html.count("Asia/Tokyo</time>") == 5
    draft.refresh_from_db()
    assert draft.definition["trigger"] == {"type": "schedule", "cron": "0 9 * * 1", "timezone": "Asia/Tokyo"}
    hx.post(url, {"schedule_mode": "once", "once_date": "2031-05-01", "once_time": "08:30", "timezone": "UTC"})
    draft.refresh_from_db()
    assert draft.definition["trigger"] == {"type": "schedule", "once": "2031-05-01T08:30:00", "timezone": "UTC"}
