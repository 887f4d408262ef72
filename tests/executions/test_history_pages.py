"""The history pages: who sees what, the list's filters and keyset pages, the execution page drawn as
its pinned version with each step's record, cancel and re-run, exports, and bounded query counts."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, TestCase
from django.utils import timezone

from directory import services as directory_services
from executions.choices import ExecutionStatus, SkipReason, StepStatus, TriggerKind
from executions.models import Execution, StepRun
from executions.selectors import HistoryFilters, history_page
from workflows.services import workflow_update

pytestmark = pytest.mark.django_db

BRANCHY = [
    {"first": {"call": "test.big", "with": {"size": 3}}},
    {
        "check": {
            "switch": [
                {"big": {"when": "{{ input.size > 5 }}", "do": [{"large": {"call": "test.big", "with": {"size": 9}}}]}},
                {"default": {"do": [{"small": {"call": "test.big", "with": {"size": 1}}}]}},
            ]
        }
    },
    {"maybe": {"if": "{{ input.go }}", "call": "test.big", "with": {"size": 2}}},
    {
        "each": {
            "for": {"each": "n", "in": "{{ [1, 2, 3] }}"},
            "do": [{"echo": {"call": "test.big", "with": {"size": "{{ n }}"}}}],
        }
    },
]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def branchy(make_workflow):
    return make_workflow(BRANCHY, name="Branchy")


@pytest.fixture
def finished(branchy, run) -> Execution:
    return run(branchy, {"size": 1, "go": False})


# --- who sees what ------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["administrator", "read_only_admin", "manager_admin"])
def test_roles_with_history_see_executions_and_steps(who, request, finished):
    client = _client(request.getfixturevalue(who))
    listing = client.get("/executions/")
    assert listing.status_code == 200 and f"execution-{finished.pk}" in listing.text
    page = client.get(f"/executions/{finished.pk}/")
    assert page.status_code == 200
    assert 'id="run-card-do-0-first"' in page.text and "no-steps" not in page.text
    step = client.get(f"/executions/{finished.pk}/step/", {"path": "do[0].first"})
    assert step.status_code == 200 and "blob" in step.text


@pytest.mark.parametrize("who", ["help_desk_admin", "outsider"])
def test_roles_without_history_get_403_on_every_page(who, request, finished):
    client = _client(request.getfixturevalue(who))
    for url in (
        "/executions/",
        "/executions/export.csv",
        f"/executions/{finished.pk}/",
        f"/executions/{finished.pk}/step/?path=do[0].first",
        f"/executions/{finished.pk}/export.json",
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/executions/{finished.pk}/rerun/").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(finished):
    response = Client().get(f"/executions/{finished.pk}/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_built_in_roles_grant_step_records_with_executions():
    from directory.models import AdminRole
    from directory.roles import ADMINISTRATOR, HELP_DESK, MANAGER, READ_ONLY

    def perms(key: str) -> set[str]:
        group = AdminRole.objects.get(key=key).group
        return set(group.permissions.values_list("codename", flat=True))

    for key in (ADMINISTRATOR, READ_ONLY, MANAGER):
        assert {"view_execution", "view_steprun"} <= perms(key), key
    assert not {"view_execution", "view_steprun"} & perms(HELP_DESK)


def test_a_custom_role_without_step_permission_sees_the_run_but_not_its_steps(make_admin, finished):
    viewer = make_admin("viewer-vic")
    viewer.user_permissions.add(Permission.objects.get(codename="view_execution"))
    client = _client(viewer)
    page = client.get(f"/executions/{finished.pk}/")
    assert page.status_code == 200 and 'id="no-steps"' in page.text and "run-card-do-0-first" not in page.text
    assert client.get(f"/executions/{finished.pk}/step/?path=do[0].first").status_code == 403
    assert "steps" not in json.loads(client.get(f"/executions/{finished.pk}/export.json").content)


def test_administrator_sees_step_records_in_the_admin(administrator, finished):
    page = _client(administrator).get(f"/admin/executions/execution/{finished.pk}/change/")
    assert page.status_code == 200
    assert "do[0].first" in page.text
    assert "KEYFLOW_HISTORY_DAYS" in _client(administrator).get("/admin/executions/execution/").text


# --- the execution page ------------------------------------------------------------------------


def test_cards_are_coloured_by_what_ran_and_skips_say_why(administrator, finished):
    text = _client(administrator).get(f"/executions/{finished.pk}/").text
    assert 'id="run-card-do-0-first" data-status="succeeded"' in text
    assert 'id="run-card-do-1-check-switch-0-big-do-0-large" data-status="skipped"' in text
    assert 'id="run-card-do-1-check-switch-1-default-do-0-small" data-status="succeeded"' in text
    assert 'id="run-card-do-2-maybe" data-status="skipped"' in text
    assert "Skipped: Branch not taken" in text and "Skipped: Guard (if) was false" in text
    assert "3 items" in text and "3 runs in the loop" in text


def test_a_task_that_never_ran_is_never_shown_as_run(make_workflow, run, administrator):
    workflow = make_workflow(
        [{"boom": {"call": "test.boom"}}, {"after": {"call": "test.big", "with": {"size": 1}}}], name="Stops"
    )
    execution = run(workflow)
    assert execution.status == ExecutionStatus.FAILED
    client = _client(administrator)
    text = client.get(f"/executions/{execution.pk}/").text
    assert 'id="run-card-do-0-boom" data-status="failed"' in text
    assert 'id="run-card-do-1-after" data-status="not_run"' in text
    panel = client.get(f"/executions/{execution.pk}/step/", {"path": "do[1].after"}, HTTP_HX_REQUEST="true").text
    assert "did not run" in panel and "<html" not in panel


def test_the_page_draws_the_pinned_version_not_todays(branchy, finished, administrator):
    changed = {"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"renamed": {"call": "test.big", "with": {}}}]}
    workflow_update(workflow=branchy, actor=administrator, definition=changed)
    text = _client(administrator).get(f"/executions/{finished.pk}/").text
    assert "run-card-do-0-first" in text and "run-card-do-0-renamed" not in text
    assert "latest is 2" in text


def test_a_step_panel_shows_input_output_redacted_and_long_values_folded(make_workflow, run, administrator):
    workflow = make_workflow(
        [{"big": {"call": "test.big", "with": {"size": 400, "api_token": "s3cret-value"}}}], name="Secretive"
    )
    execution = run(workflow)
    panel = _client(administrator).get(f"/executions/{execution.pk}/step/", {"path": "do[0].big"}).text
    assert "s3cret-value" not in panel and "json-redacted" in panel
    assert 'class="json-fold"' in panel and "(400 characters)" in panel


def test_a_failed_step_shows_its_error_and_each_retried_attempt(make_workflow, run, administrator):
    workflow = make_workflow(
        [
            {
                "flaky": {
                    "call": "test.flaky",
                    "with": {"fail_times": 9},
                    "retry": {"max_attempts": 3, "initial_delay": 0},
                }
            }
        ],
        name="Flaky",
    )
    execution = run(workflow)
    step = StepRun.objects.get(execution=execution)
    assert [a["attempt"] for a in step.attempt_log] == [1, 2] and step.attempts == 3
    panel = _client(administrator).get(f"/executions/{execution.pk}/step/", {"path": "do[0].flaky"}).text
    assert "flaky failure 3" in panel
    assert "Attempt 1" in panel and "flaky failure 1" in panel and "Attempt 2" in panel


def test_a_loop_card_lists_its_iterations_one_by_one(finished, administrator):
    panel = _client(administrator).get(f"/executions/{finished.pk}/step/", {"path": "do[3].each"}).text
    assert panel.count('class="iteration"') == 3
    assert "Iteration 3" in panel


def test_the_trigger_card_shows_the_event_and_its_changes(make_workflow, administrator, admin_role, settings):
    settings.KEYFLOW_DISPATCH_INLINE = True
    from workflows.services import workflow_create

    workflow_create(
        name="On update",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "event", "event": "user.updated"},
            "do": [{"noop": {"call": "test.big", "with": {"size": 1}}}],
        },
        run_as=admin_role,
        actor=administrator,
    )
    user = directory_services.user_create(actor=administrator, username="bo", email="bo@example.com", state="active")
    with TestCase.captureOnCommitCallbacks(execute=True):
        directory_services.user_update(user=user, actor=administrator, job_title="Lead")
    execution = Execution.objects.get(workflow__name="On update")
    client = _client(administrator)
    assert "user.updated · bo" in client.get(f"/executions/{execution.pk}/").text
    panel = client.get(f"/executions/{execution.pk}/step/", {"path": "trigger"}).text
    assert "job_title" in panel and "Lead" in panel


def test_an_unfinished_execution_polls_and_a_finished_one_does_not(branchy, administrator):
    from workflows.services import workflow_run

    execution = workflow_run(workflow=branchy, input={"size": 1}, actor=administrator)
    client = _client(administrator)
    text = client.get(f"/executions/{execution.pk}/").text
    assert 'hx-trigger="every 2s"' in text and "Live" in text
    partial = client.get(f"/executions/{execution.pk}/", HTTP_HX_REQUEST="true").text
    assert partial.lstrip().startswith('<div id="live"') and "<html" not in partial
    from executions.tasks import run_execution

    run_execution(execution.pk, heartbeat=False)
    partial = client.get(f"/executions/{execution.pk}/", HTTP_HX_REQUEST="true").text
    assert "hx-trigger" not in partial.split(">", 1)[0] and 'data-status="succeeded"' in partial


# --- cancel and re-run --------------------------------------------------------------------------


def test_cancel_a_queued_execution_records_who_and_when(branchy, administrator):
    from workflows.services import workflow_run

    execution = workflow_run(workflow=branchy, input={"size": 1}, actor=administrator)
    response = _client(administrator).post(f"/executions/{execution.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response["HX-Redirect"] == f"/executions/{execution.pk}/"
    execution.refresh_from_db()
    assert execution.status == ExecutionStatus.CANCELLED
    assert execution.cancelled_by == administrator and execution.cancelled_at is not None
    text = _client(administrator).get(f"/executions/{execution.pk}/").text
    assert "Cancelled by admin-ada" in text


def test_read_only_may_not_cancel_or_rerun(branchy, finished, read_only_admin, administrator):
    from workflows.services import workflow_run

    queued = workflow_run(workflow=branchy, input={"size": 1}, actor=administrator)
    client = _client(read_only_admin)
    assert client.post(f"/executions/{queued.pk}/cancel/").status_code == 403
    assert client.post(f"/executions/{finished.pk}/rerun/").status_code == 403
    page = client.get(f"/executions/{queued.pk}/").text
    assert "cancel-button" not in page
    assert "rerun-menu" not in client.get(f"/executions/{finished.pk}/").text


def test_cancelling_a_finished_execution_is_a_409(finished, administrator):
    assert _client(administrator).post(f"/executions/{finished.pk}/cancel/").status_code == 409


def test_rerun_with_the_same_or_the_latest_version(branchy, finished, administrator):
    changed = {"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"only": {"call": "test.big", "with": {"size": 1}}}]}
    workflow_update(workflow=branchy, actor=administrator, definition=changed)
    client = _client(administrator)
    same = client.post(f"/executions/{finished.pk}/rerun/", {"version": "same"}, HTTP_HX_REQUEST="true")
    latest = client.post(f"/executions/{finished.pk}/rerun/", {"version": "latest"}, HTTP_HX_REQUEST="true")
    same_run = Execution.objects.get(pk=int(same["HX-Redirect"].strip("/").split("/")[-1]))
    latest_run = Execution.objects.get(pk=int(latest["HX-Redirect"].strip("/").split("/")[-1]))
    assert same_run.version_id == finished.version_id and latest_run.version.number == 2
    for rerun in (same_run, latest_run):
        assert rerun.rerun_of_id == finished.pk and rerun.input == finished.input
        assert rerun.started_by == administrator and rerun.trigger_kind == TriggerKind.MANUAL
    assert f'Re-run of <a href="/executions/{finished.pk}/">' in client.get(f"/executions/{same_run.pk}/").text


def test_an_unfinished_execution_is_not_rerun(branchy, administrator):
    from workflows.services import workflow_run

    queued = workflow_run(workflow=branchy, input={"size": 1}, actor=administrator)
    assert _client(administrator).post(f"/executions/{queued.pk}/rerun/").status_code == 409


# --- the list -----------------------------------------------------------------------------------


def test_filters_by_status_workflow_trigger_and_time(make_workflow, run, administrator):
    ok = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}], name="Fine")
    bad = make_workflow([{"b": {"call": "test.boom"}}], name="Broken")
    good_run, bad_run = run(ok), run(bad)
    client = _client(administrator)
    failed = client.get("/executions/", {"status": "failed"}).text
    assert f"execution-{bad_run.pk}" in failed and f"execution-{good_run.pk}" not in failed
    by_workflow = client.get("/executions/", {"workflow": ok.pk}).text
    assert f"execution-{good_run.pk}" in by_workflow and f"execution-{bad_run.pk}" not in by_workflow
    assert f"execution-{good_run.pk}" not in client.get("/executions/", {"trigger": "event"}).text
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert "No executions match" in client.get("/executions/", {"since": tomorrow}).text
    assert f"execution-{good_run.pk}" in client.get("/executions/", {"until": tomorrow}).text


def test_filter_by_a_user_the_execution_touched(make_workflow, run, administrator, ann):
    directory_services.user_create(actor=administrator, username="cy", email="cy@example.com", state="active")
    workflow = make_workflow([{"s": {"call": "user.suspend", "with": {"user": "{{ input.who }}"}}}], name="Suspend")
    touched_ann = run(workflow, {"who": "ann"})
    touched_cy = run(workflow, {"who": "cy"})
    assert touched_ann.status == touched_cy.status == ExecutionStatus.SUCCEEDED
    client = _client(administrator)
    text = client.get("/executions/", {"touched": "ann@example.com"}).text
    assert f"execution-{touched_ann.pk}" in text and f"execution-{touched_cy.pk}" not in text
    unknown = client.get("/executions/", {"touched": "nobody"}).text
    assert "No user (username or email) or device (hostname) is named" in unknown
    assert 'id="touched-error"' in unknown


def test_bad_filter_values_are_reported_beside_their_field(administrator):
    text = _client(administrator).get("/executions/", {"status": "exploded", "since": "yesterday"}).text
    assert "Choose a status from the list." in text and "Enter a date as YYYY-MM-DD." in text


def test_rows_say_how_each_run_started(finished, administrator):
    assert "Manual by admin-ada" in _client(administrator).get("/executions/").text


def _bulk_executions(workflow: Any, count: int, start: Any = None) -> list[Execution]:
    start = start or timezone.now() - timedelta(days=1)
    rows = [
        Execution(workflow=workflow, version=workflow.current_version, trigger_kind=TriggerKind.API, status="succeeded")
        for _ in range(count)
    ]
    created = Execution.objects.bulk_create(rows)
    for index, execution in enumerate(created):  # bulk_create cannot set auto_now_add fields
        Execution.objects.filter(pk=execution.pk).update(queued_at=start + timedelta(seconds=index // 2))
    return list(Execution.objects.filter(workflow=workflow).order_by("-queued_at", "-id"))


def test_keyset_pages_walk_every_execution_once_both_ways(branchy):
    expected = [e.pk for e in _bulk_executions(branchy, 23)]  # pairs share a queued_at: ties broken by id
    filters = HistoryFilters.from_query({})
    seen, page = [], history_page(filters, size=5)
    pages = [page]
    while True:
        seen += [e.pk for e in page.rows]
        if page.older is None:
            break
        page = history_page(filters, after=page.older, size=5)
        pages.append(page)
    assert seen == expected
    back = history_page(filters, before=pages[-1].newer, size=5)
    assert [e.pk for e in back.rows] == [e.pk for e in pages[-2].rows]
    assert history_page(filters, after="garbage", size=5).first


def test_pages_cost_a_fixed_number_of_queries(branchy, finished, administrator, django_assert_max_num_queries):
    _bulk_executions(branchy, 120)
    client = _client(administrator)
    client.get("/executions/")  # session and permission caches warm
    with django_assert_max_num_queries(8):
        first = client.get("/executions/")
    older = first.text.split('id="page-older" href="?after=')[1].split('"')[0]
    with django_assert_max_num_queries(8):
        client.get("/executions/", {"after": older, "status": "succeeded", "workflow": branchy.pk})
    with django_assert_max_num_queries(12):
        client.get(f"/executions/{finished.pk}/")
    with django_assert_max_num_queries(8):
        client.get(f"/executions/{finished.pk}/step/", {"path": "do[3].each"})


def test_the_execution_page_with_200_steps_costs_what_one_with_3_does(
    make_workflow, run, administrator, django_assert_max_num_queries
):
    workflow = make_workflow(
        [
            {
                "each": {
                    "for": {"each": "n", "in": "{{ range(199) | list }}"},
                    "do": [{"echo": {"call": "test.big", "with": {"size": 1}}}],
                }
            }
        ],
        name="Many",
    )
    execution = run(workflow)
    assert StepRun.objects.filter(execution=execution).count() == 200
    client = _client(administrator)
    client.get(f"/executions/{execution.pk}/")
    with django_assert_max_num_queries(12):
        response = client.get(f"/executions/{execution.pk}/")
    assert "199 runs in the loop" in response.text


# --- exports ------------------------------------------------------------------------------------


def test_export_an_execution_as_json(finished, administrator):
    response = _client(administrator).get(f"/executions/{finished.pk}/export.json")
    assert response["Content-Disposition"] == f'attachment; filename="keyflow-execution-{finished.pk}.json"'
    document = json.loads(response.content)
    assert document["id"] == finished.pk and document["version"]["number"] == 1
    assert [s["path"] for s in document["steps"]][:2] == ["do[0].first", "do[1].check"]
    skipped = [s for s in document["steps"] if s["status"] == StepStatus.SKIPPED]
    assert {s["skip_reason"] for s in skipped} == {SkipReason.BRANCH_NOT_TAKEN, SkipReason.GUARD_FALSE}


def test_export_the_filtered_history_as_csv(make_workflow, run, administrator):
    ok = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}], name="=cmd|' /C calc'!A0")
    bad = make_workflow([{"b": {"call": "test.boom"}}], name="Broken")
    good_run, bad_run = run(ok), run(bad)
    response = _client(administrator).get("/executions/export.csv", {"status": "succeeded"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:4] == ["id", "workflow", "version", "status"]
    assert [int(r[0]) for r in rows[1:]] == [good_run.pk]
    assert rows[1][1].startswith("'=")  # never evaluated by a spreadsheet
    assert bad_run.pk not in [int(r[0]) for r in rows[1:]]


def test_a_filter_swapped_in_by_htmx_brings_the_export_link_with_it(make_workflow, run, administrator):
    """The export link sits outside the swapped list: the fragment replaces it out of band, so it
    exports the filters on screen, not those the page loaded with."""
    workflow = make_workflow([{"b": {"call": "test.boom"}}], name="Broken")
    run(workflow)
    client = _client(administrator)
    fragment = client.get("/executions/", {"status": "failed"}, HTTP_HX_REQUEST="true").text
    link = fragment.split('id="export-csv"')[1].split(">")[0]
    assert 'hx-swap-oob="true"' in link and "status=failed" in link
    tab = client.get(f"/workflows/{workflow.pk}/history/", {"status": "failed"}, HTTP_HX_REQUEST="true").text
    link = tab.split('id="export-csv"')[1].split(">")[0]
    assert "hx-swap-oob" in link and f"workflow={workflow.pk}" in link and "status=failed" in link
    assert 'hx-swap-oob="true"' not in client.get("/executions/", {"status": "failed"}).text  # full page: one link
