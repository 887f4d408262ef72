"""Keeping history: deleting a workflow archives it, a purge is separate and Administrator-only, and
retention prunes old finished runs in batches on a schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone
from django_q.models import Schedule

from executions.apps import PRUNE_SCHEDULE
from executions.choices import ExecutionStatus
from executions.models import Execution, StepRun
from executions.services import history_prune
from executions.tasks import prune_history
from workflows.models import Workflow
from workflows.services import (
    PurgeRefused,
    WorkflowInvalid,
    workflow_create,
    workflow_delete,
    workflow_purge,
    workflow_run,
    workflow_set_enabled,
)

pytestmark = pytest.mark.django_db

DO = [{"a": {"call": "test.big", "with": {"size": 1}}}, {"b": {"call": "test.big", "with": {"size": 2}}}]


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def workflow(make_workflow):
    return make_workflow(DO, name="Keeps history")


def test_deleting_a_workflow_keeps_its_executions_and_steps(workflow, run, administrator):
    done = run(workflow)
    queued = workflow_run(workflow=workflow, input={}, actor=administrator)
    workflow_delete(workflow=workflow, actor=administrator)
    workflow.refresh_from_db()
    assert workflow.archived_at is not None and workflow.archived_by == administrator and not workflow.enabled
    assert StepRun.objects.filter(execution=done).count() == 2
    queued.refresh_from_db()
    assert queued.status == ExecutionStatus.CANCELLED and queued.cancelled_by == administrator
    assert not Workflow.objects.live().filter(pk=workflow.pk).exists()
    client = _client(administrator)
    assert "Keeps history" not in client.get("/workflows/").text
    assert client.get(f"/workflows/{workflow.pk}/").status_code == 404
    history = client.get("/executions/", {"workflow": workflow.pk}).text
    assert f"execution-{done.pk}" in history and "was deleted" in history
    page = client.get(f"/executions/{done.pk}/").text
    assert "run-card-do-1-b" in page and "rerun-menu" not in page
    assert client.get(f"/executions/{done.pk}/export.json").status_code == 200


def test_a_deleted_workflow_frees_its_name_and_cannot_be_enabled_or_run(workflow, make_workflow, administrator):
    workflow_delete(workflow=workflow, actor=administrator)
    again = make_workflow(DO, name="Keeps history")
    assert again.pk != workflow.pk
    with pytest.raises(WorkflowInvalid):
        workflow_set_enabled(workflow=workflow, enabled=True, actor=administrator)
    with pytest.raises(WorkflowInvalid):
        workflow_run(workflow=Workflow.objects.get(pk=workflow.pk), input={}, actor=administrator)


def test_the_database_refuses_to_delete_a_workflow_that_has_history(workflow, run):
    run(workflow)
    with pytest.raises(ProtectedError):
        Workflow.objects.filter(pk=workflow.pk).delete()


def test_purge_is_refused_until_the_workflow_is_deleted(workflow, run, administrator):
    run(workflow)
    with pytest.raises(PurgeRefused):
        workflow_purge(workflow=workflow, actor=administrator)


def test_purge_removes_the_history_for_good(workflow, run, administrator):
    first, second = run(workflow), run(workflow)
    from executions.services import execution_rerun

    execution_rerun(execution=first, actor=administrator)
    workflow_delete(workflow=workflow, actor=administrator)
    assert workflow_purge(workflow=workflow, actor=administrator) == 3
    assert not Execution.objects.filter(pk__in=[first.pk, second.pk]).exists()
    assert not StepRun.objects.filter(execution_id__in=[first.pk, second.pk]).exists()
    assert not Workflow.objects.filter(pk=workflow.pk).exists()


@pytest.mark.parametrize("who, allowed", [("administrator", True), ("read_only_admin", False)])
def test_only_administrators_may_purge_from_the_history_page(who, allowed, request, workflow, run, administrator):
    done = run(workflow)
    workflow_delete(workflow=workflow, actor=administrator)
    client = _client(request.getfixturevalue(who))
    page = client.get("/executions/", {"workflow": workflow.pk}).text
    assert ('id="purge-button"' in page) is allowed
    response = client.post(f"/executions/purge/{workflow.pk}/", HTTP_HX_REQUEST="true")
    assert response.status_code == (200 if allowed else 403)
    assert Execution.objects.filter(pk=done.pk).exists() is not allowed


def test_purging_a_workflow_not_deleted_is_a_409(workflow, administrator):
    assert _client(administrator).post(f"/executions/purge/{workflow.pk}/").status_code == 409


def _age(execution: Execution, days: int) -> None:
    Execution.objects.filter(pk=execution.pk).update(queued_at=timezone.now() - timedelta(days=days))


def test_retention_prunes_finished_runs_older_than_the_setting_in_batches(workflow, run, administrator, settings):
    settings.KEYFLOW_HISTORY_DAYS = 30
    settings.KEYFLOW_HISTORY_PRUNE_BATCH = 2
    old = [run(workflow) for _ in range(5)]
    recent = run(workflow)
    stuck = workflow_run(workflow=workflow, input={}, actor=administrator)  # queued: never pruned
    for execution in [*old, stuck]:
        _age(execution, 31)
    _age(recent, 29)
    assert prune_history() == 5
    assert set(Execution.objects.values_list("pk", flat=True)) == {recent.pk, stuck.pk}
    assert not StepRun.objects.filter(execution_id__in=[e.pk for e in old]).exists()
    assert StepRun.objects.filter(execution=recent).count() == 2


def test_prune_stops_after_the_batches_it_was_given(workflow, run):
    for execution in [run(workflow) for _ in range(5)]:
        _age(execution, 100)
    cutoff = timezone.now() - timedelta(days=90)
    assert history_prune(older_than=cutoff, batch_size=2, max_batches=2) == 4
    assert history_prune(older_than=cutoff, batch_size=2) == 1


def test_the_retention_task_is_scheduled_after_migrate():
    schedule = Schedule.objects.get(name=PRUNE_SCHEDULE)
    assert schedule.func == "executions.tasks.prune_history" and schedule.repeats == -1


def test_deleting_in_the_admin_archives(workflow, run, administrator):
    done = run(workflow)
    client = _client(administrator)
    confirm = client.get(f"/admin/workflows/workflow/{workflow.pk}/delete/")
    assert confirm.status_code == 200 and "executions and steps are kept" in confirm.text
    client.post(f"/admin/workflows/workflow/{workflow.pk}/delete/", {"post": "yes"})
    assert Workflow.objects.get(pk=workflow.pk).archived_at is not None
    assert Execution.objects.filter(pk=done.pk).exists()


def test_a_deleted_workflows_name_can_be_reused_through_the_service(workflow, admin_role, administrator):
    workflow_delete(workflow=workflow, actor=administrator)
    reused = workflow_create(
        name="Keeps history",
        definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": DO},
        run_as=admin_role,
        actor=administrator,
    )
    assert Workflow.objects.filter(name="Keeps history").count() == 2 and reused.archived_at is None
