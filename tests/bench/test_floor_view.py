"""The bare-Django floor of ``make bench-http`` (bench/floor_view.py): mounted only on request.

It writes rows without authentication, so it must never be reachable unless the benchmark's own
server set ``KEYFLOW_BENCH_FLOOR``; and it must write what a finished three-step run writes, or
the floor the benchmark compares against would be a different amount of work.
"""

from __future__ import annotations

import importlib

import pytest
from django.urls import Resolver404, clear_url_caches, resolve

import config.urls
from bench.floor_view import floor_write
from bench.http_fixtures import FLOOR_DEFINITION
from directory.actors import Actor
from directory.models import AdminRole
from directory.roles import ADMINISTRATOR
from executions.models import Execution, StepRun
from workflows.services import workflow_create

FLOOR_PATH = "/bench/floor/1/1/"


@pytest.fixture
def reloaded_urls(settings):
    """Rebuild ``config.urls`` under the test's settings, and again as it was afterwards."""

    def reload(enabled: bool) -> None:
        settings.KEYFLOW_BENCH_FLOOR = enabled
        importlib.reload(config.urls)
        clear_url_caches()

    yield reload
    settings.KEYFLOW_BENCH_FLOOR = False
    importlib.reload(config.urls)
    clear_url_caches()


def test_the_floor_is_not_mounted_by_default(settings) -> None:
    assert settings.KEYFLOW_BENCH_FLOOR is False
    with pytest.raises(Resolver404):
        resolve(FLOOR_PATH)


def test_the_floor_is_not_mounted_when_the_setting_is_off(reloaded_urls) -> None:
    reloaded_urls(False)
    with pytest.raises(Resolver404):
        resolve(FLOOR_PATH)
    assert all("bench" not in str(p.pattern) for p in config.urls.urlpatterns)


def test_the_setting_mounts_the_floor(reloaded_urls) -> None:
    reloaded_urls(True)
    match = resolve(FLOOR_PATH)
    assert match.func is floor_write
    assert match.kwargs == {"workflow_id": 1, "version_id": 1}


@pytest.fixture
def floor_workflow(db):
    role = AdminRole.objects.get(key=ADMINISTRATOR)
    return workflow_create(name="floor", definition=FLOOR_DEFINITION, run_as=role, actor=Actor.system("test"))


@pytest.mark.urls("bench.urls")
def test_one_request_writes_a_finished_execution_with_three_steps(client, floor_workflow) -> None:
    url = f"/floor/{floor_workflow.pk}/{floor_workflow.current_version_id}/"
    response = client.post(url, {"type": "user.created", "user": {"uid": "a"}}, content_type="application/json")
    assert response.status_code == 201
    execution = Execution.objects.get(pk=response.json()["id"])
    assert execution.workflow_id == floor_workflow.pk
    assert execution.status == "succeeded"
    assert execution.finished_at is not None
    assert execution.input == {"type": "user.created", "user": {"uid": "a"}}
    assert list(StepRun.objects.filter(execution=execution).values_list("sequence", "status")) == [
        (1, "succeeded"),
        (2, "succeeded"),
        (3, "succeeded"),
    ]


@pytest.mark.urls("bench.urls")
def test_a_body_that_is_not_json_is_refused(client, floor_workflow) -> None:
    url = f"/floor/{floor_workflow.pk}/{floor_workflow.current_version_id}/"
    response = client.post(url, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert not Execution.objects.exists()


@pytest.mark.urls("bench.urls")
def test_only_post_is_served(client, floor_workflow) -> None:
    assert client.get(f"/floor/{floor_workflow.pk}/{floor_workflow.current_version_id}/").status_code == 405
