"""The History tab of a workflow's builder page (``/workflows/<id>/history/``): the history list with
the workflow fixed, its filters and keyset pages, the builder's header, and the history's rule for
who may see it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from executions.choices import TriggerKind
from executions.models import Execution

pytestmark = pytest.mark.django_db

ONE_STEP = [{"first": {"call": "test.big", "with": {"size": 1}}}]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(workflow: Any) -> str:
    return f"/workflows/{workflow.pk}/history/"


@pytest.fixture
def mine(make_workflow):
    return make_workflow(ONE_STEP, name="Mine")


@pytest.fixture
def other(make_workflow):
    return make_workflow(ONE_STEP, name="Other")


def _bulk(workflow: Any, count: int, status: str = "succeeded") -> list[int]:
    """``count`` executions of ``workflow``, pairs sharing a queued_at (ties broken by id), newest first."""
    start = timezone.now() - timedelta(days=1)
    rows = [
        Execution(workflow=workflow, version=workflow.current_version, trigger_kind=TriggerKind.API, status=status)
        for _ in range(count)
    ]
    for index, execution in enumerate(Execution.objects.bulk_create(rows)):
        Execution.objects.filter(pk=execution.pk).update(queued_at=start + timedelta(seconds=index // 2))
    return list(Execution.objects.filter(workflow=workflow).order_by("-queued_at", "-id").values_list("pk", flat=True))


@pytest.mark.parametrize("who", ["administrator", "read_only_admin", "manager_admin"])
def test_roles_with_history_see_only_this_workflows_runs(who, request, mine, other, run):
    own, foreign = run(mine), run(other)
    response = _client(request.getfixturevalue(who)).get(_url(mine))
    assert response.status_code == 200
    text = response.text
    assert f'id="execution-{own.pk}"' in text and f'id="execution-{foreign.pk}"' not in text
    assert 'id="editor-top"' in text  # the builder's header
    assert 'id="history-tab"' in text and 'aria-current="page">History</a>' in text
    assert 'id="filter-workflow"' not in text  # the tab fixes the workflow
    assert f'href="/executions/export.csv?workflow={mine.pk}"' in text


@pytest.mark.parametrize("who", ["help_desk_admin", "outsider"])
def test_roles_without_history_get_403(who, request, mine, run):
    run(mine)
    assert _client(request.getfixturevalue(who)).get(_url(mine)).status_code == 403


def test_anonymous_visitors_sign_in(mine):
    response = Client().get(_url(mine))
    assert response.status_code == 302 and "login" in response["Location"]


def test_the_canvas_links_to_the_tab_for_roles_that_see_history(mine, administrator, help_desk_admin):
    canvas = _client(administrator).get(f"/workflows/{mine.pk}/").text
    assert f'href="/workflows/{mine.pk}/history/"' in canvas
    assert 'aria-current="page">Canvas</a>' in canvas


def test_a_role_that_sees_workflows_but_not_history_gets_no_tab(mine, read_only_admin):
    from django.contrib.auth.models import Permission

    from directory.models import AdminRole

    role = AdminRole.objects.get(key="read-only")
    role.group.permissions.remove(Permission.objects.get(codename="view_execution"))
    client = _client(read_only_admin)
    assert 'id="history-tab"' not in client.get(f"/workflows/{mine.pk}/").text
    assert client.get(_url(mine)).status_code == 403


def test_deleted_and_missing_workflows_and_drafts_have_no_tab(mine, administrator):
    from workflows.services import workflow_delete

    client = _client(administrator)
    assert client.get("/workflows/999999/history/").status_code == 404
    workflow_delete(workflow=mine, actor=administrator)
    assert client.get(_url(mine)).status_code == 404  # its history stays on /executions/?workflow=
    assert client.get("/workflows/drafts/1/history/").status_code == 404


def test_filters_and_the_htmx_list_keep_the_workflow(mine, other, run, administrator):
    failed_other = _bulk(other, 1, status="failed")[0]
    mine_failed = _bulk(mine, 2, status="failed")
    client = _client(administrator)
    text = client.get(_url(mine), {"status": "failed", "workflow": other.pk}).text  # the query cannot switch it
    assert all(f'id="execution-{pk}"' in text for pk in mine_failed)
    assert f'id="execution-{failed_other}"' not in text
    fragment = client.get(_url(mine), {"status": "succeeded"}, HTTP_HX_REQUEST="true").text
    assert fragment.lstrip().startswith('<div id="results">') and "editor-top" not in fragment
    assert "No executions match" in fragment and f'href="{_url(mine)}"' in fragment
    errors = client.get(_url(mine), {"status": "exploded"}).text
    assert "Choose a status from the list." in errors


def test_keyset_pages_walk_the_workflows_runs_once(mine, other, administrator):
    expected = _bulk(mine, 120)
    _bulk(other, 30)
    client = _client(administrator)
    seen, query = [], {}
    while True:
        text = client.get(_url(mine), query).text
        seen += [int(part.split('"')[0]) for part in text.split('<tr id="execution-')[1:]]
        if 'id="page-older"' not in text:
            break
        link = text.split('id="page-older" href="?')[1].split('"')[0].replace("&amp;", "&")
        assert "workflow=" not in link
        query = dict(pair.split("=", 1) for pair in link.split("&"))
    assert seen == expected


def test_the_tab_costs_a_fixed_number_of_queries(mine, run, administrator, django_assert_max_num_queries):
    run(mine)
    _bulk(mine, 120)
    client = _client(administrator)
    client.get(_url(mine))  # session and permission caches warm
    with django_assert_max_num_queries(10):
        first = client.get(_url(mine))
    older = first.text.split('id="page-older" href="?after=')[1].split('"')[0]
    with django_assert_max_num_queries(10):
        client.get(_url(mine), {"after": older, "status": "succeeded"})
    with django_assert_max_num_queries(10):
        client.get(_url(mine), {"after": older}, HTTP_HX_REQUEST="true")
