"""Each builder page makes a fixed number of queries, however large the workflow."""

from __future__ import annotations

import pytest
from django.urls import reverse

from directory.models import AdminRole
from workflows.builder.drafts import draft_start
from workflows.models import WorkflowDraft
from workflows.services import workflow_create

pytestmark = pytest.mark.django_db


def big_definition(cards: int) -> dict:
    """``cards`` tasks: calls, with an If / else and a loop every ten."""
    tasks = []
    for number in range(cards):
        if number % 10 == 5:
            tasks.append(
                {
                    f"check_{number}": {
                        "switch": [
                            {
                                "branch_1": {
                                    "when": {"left": "{{ input.email }}", "op": "ends_with", "right": "@x.com"},
                                    "do": [
                                        {
                                            f"in_{number}": {
                                                "call": "user.suspend",
                                                "with": {"user": "{{ input.email }}"},
                                            }
                                        }
                                    ],
                                }
                            },
                            {"default": {"do": []}},
                        ]
                    }
                }
            )
        elif number % 10 == 8:
            tasks.append(
                {
                    f"loop_{number}": {
                        "for": {"each": "person", "in": "{{ input.people }}"},
                        "do": [{f"body_{number}": {"call": "user.activate", "with": {"user": "{{ person }}"}}}],
                    }
                }
            )
        else:
            tasks.append(
                {
                    f"task_{number}": {
                        "call": "user.update",
                        "with": {"user": "{{ input.email }}", "job_title": f"T{number}"},
                    }
                }
            )
    return {
        "dsl": "1.0",
        "trigger": {"type": "manual"},
        "input": {
            "schema": {"type": "object", "properties": {"email": {"type": "string"}, "people": {"type": "array"}}}
        },
        "do": tasks,
    }


@pytest.fixture(params=[5, 50], ids=["small", "large"])
def workflow(request, administrator):
    return workflow_create(
        name=f"wf {request.param}",
        definition=big_definition(request.param),
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )


def kw(workflow):
    return {"workflow_id": workflow.pk}


def test_canvas(client, administrator, workflow, django_assert_max_num_queries):
    client.force_login(administrator)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("workflows:canvas", kwargs=kw(workflow))).status_code == 200


def test_canvas_with_a_draft_showing_its_problems(client, administrator, workflow, django_assert_max_num_queries):
    draft = draft_start(workflow=workflow, actor=administrator)
    WorkflowDraft.objects.filter(pk=draft.pk).update(show_problems=True)
    client.force_login(administrator)
    with django_assert_max_num_queries(32):
        response = client.get(reverse("workflows:canvas", kwargs=kw(workflow)))
    assert response.status_code == 200


def test_canvas_for_a_viewer(client, read_only_admin, workflow, django_assert_max_num_queries):
    client.force_login(read_only_admin)
    with django_assert_max_num_queries(11):
        assert client.get(reverse("workflows:canvas", kwargs=kw(workflow))).status_code == 200


def test_panel_and_edit(client, administrator, workflow, django_assert_max_num_queries):
    client.force_login(administrator)
    url = reverse("workflows:panel", kwargs=kw(workflow))
    with django_assert_max_num_queries(12):
        assert client.get(url, {"path": "do[0].task_0"}, HTTP_HX_REQUEST="true").status_code == 200
    with django_assert_max_num_queries(24):
        response = client.post(
            url, {"path": "do[0].task_0", "name": "task_0", "param:user": "ann"}, HTTP_HX_REQUEST="true"
        )
    assert response.status_code == 200


def test_dialogs_and_json(client, administrator, workflow, django_assert_max_num_queries):
    client.force_login(administrator)
    with django_assert_max_num_queries(30):
        assert client.get(reverse("workflows:run-as", kwargs=kw(workflow)), HTTP_HX_REQUEST="true").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("workflows:picker", kwargs=kw(workflow)), HTTP_HX_REQUEST="true").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("workflows:json", kwargs=kw(workflow))).status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get(reverse("workflows:run", args=[workflow.pk]), HTTP_HX_REQUEST="true").status_code == 200
