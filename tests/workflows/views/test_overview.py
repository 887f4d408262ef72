"""The overview: every workflow with its trigger, state, role and runs; search, filters, paging;
the enable toggle in place; a fixed number of queries however many workflows there are."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import AdminRole
from executions.choices import TriggerKind
from executions.services import execution_start
from workflows.builder.drafts import draft_create, draft_start
from workflows.services import workflow_create

pytestmark = pytest.mark.django_db


def make(name, trigger, actor, **extra):
    definition = {"dsl": "1.0", "trigger": trigger, "do": [{"go": {"call": "user.activate", "with": {"user": "a"}}}]}
    return workflow_create(
        name=name, definition=definition, run_as=AdminRole.objects.get(key="manager"), actor=actor, **extra
    )


EVENT = {
    "type": "event",
    "event": "user.created",
    "when": {"left": "{{ event.user.department }}", "op": "eq", "right": "Engineering"},
}
SCHEDULE = {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}


def test_rows_show_trigger_role_last_run_and_next_run(client, administrator):
    onboard = make("Onboard engineers", EVENT, administrator)
    make("Daily report", SCHEDULE, administrator)
    manual = make("Offboard", {"type": "manual"}, administrator, enabled=False)
    execution_start(workflow=onboard, trigger_kind=TriggerKind.MANUAL)
    client.force_login(administrator)
    html = client.get(reverse("workflows:overview")).content.decode()
    assert "When a user is created in Engineering" in html
    assert "Every weekday at 09:00 Europe/Berlin" in html
    assert "Manager" in html and "badge--queued" in html and "Never run" in html
    assert "CET" in html or "CEST" in html  # the next run, in the schedule's zone
    assert f'id="enabled-input-{manual.pk}"' in html and "Disabled" in html


def test_search_filters_and_the_results_partial(client, administrator):
    make("Onboard engineers", EVENT, administrator)
    make("Daily report", SCHEDULE, administrator, enabled=False)
    client.force_login(administrator)
    url = reverse("workflows:overview")
    partial = client.get(url, {"q": "daily"}, HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="results">')
    assert "Daily report" in partial and "Onboard engineers" not in partial
    assert "Onboard" in client.get(url, {"type": "event"}).content.decode()
    assert "Daily report" not in client.get(url, {"enabled": "yes"}).content.decode()
    assert "No workflows match" in client.get(url, {"last_status": "failed"}).content.decode()
    assert "Daily report" in client.get(url, {"last_status": "never"}).content.decode()


def test_empty_state_offers_create_to_editors_only(client, administrator, read_only_admin):
    client.force_login(administrator)
    html = client.get(reverse("workflows:overview")).content.decode()
    assert "No workflows yet" in html and "Create workflow" in html
    client.force_login(read_only_admin)
    html = client.get(reverse("workflows:overview")).content.decode()
    assert "No workflows yet" in html and "Create workflow" not in html and ">Add<" not in html


def test_paged(client, administrator):
    for number in range(30):
        make(f"wf {number:02d}", {"type": "manual"}, administrator)
    client.force_login(administrator)
    first = client.get(reverse("workflows:overview")).content.decode()
    assert "Page 1 of 2" in first and "wf 24" in first and "wf 25" not in first
    assert "wf 29" in client.get(reverse("workflows:overview"), {"page": 2}).content.decode()


def test_toggle_enables_in_place(client, administrator):
    workflow = make("Offboard", {"type": "manual"}, administrator)
    client.force_login(administrator)
    response = client.post(reverse("workflows:enabled", args=[workflow.pk]), {}, HTTP_HX_REQUEST="true")
    assert 'id="enabled-input-' in response.content.decode() and "Disabled" in response.content.decode()
    workflow.refresh_from_db()
    assert workflow.enabled is False
    client.post(reverse("workflows:enabled", args=[workflow.pk]), {"enabled": "on"}, HTTP_HX_REQUEST="true")
    workflow.refresh_from_db()
    assert workflow.enabled is True


def test_drafts_are_marked_and_unsaved_new_ones_listed(client, administrator):
    workflow = make("Offboard", {"type": "manual"}, administrator)
    draft_start(workflow=workflow, actor=administrator)
    draft_create(trigger_type="event", name="Half done", description="", actor=administrator)
    client.force_login(administrator)
    html = client.get(reverse("workflows:overview")).content.decode()
    assert "Unsaved changes" in html and "Not saved yet" in html and "Half done" in html


@pytest.mark.parametrize("count", [3, 40])
def test_fixed_number_of_queries(client, administrator, django_assert_max_num_queries, count):
    for number in range(count):
        workflow = make(f"wf {number:02d}", EVENT if number % 2 else SCHEDULE, administrator)
        execution_start(workflow=workflow, trigger_kind=TriggerKind.MANUAL)
        draft_start(workflow=workflow, actor=administrator)
    client.force_login(administrator)
    with django_assert_max_num_queries(10):
        assert client.get(reverse("workflows:overview")).status_code == 200
