"""A manual run end to end through a real qcluster process (not django-q2's sync mode)."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from directory import services as ds
from directory.models import AdminRole, User
from executions.models import Execution
from tests.workers import purge_queue, qcluster, wait_until
from workflows.services import workflow_create, workflow_run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_manual_run_through_a_real_worker(administrator, capsys):
    purge_queue()
    ds.user_create(actor=administrator, username="ann", email="ann@example.com", state="active")
    workflow = workflow_create(
        name="retitle",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "input": {"schema": {"type": "object", "required": ["title"], "properties": {"title": {"type": "string"}}}},
            "do": [{"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "{{ input.title }}"}}}],
        },
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )
    with qcluster(count=1, workers=2) as procs:
        execution = workflow_run(workflow=workflow, input={"title": "Lead"}, actor=administrator)
        finished = wait_until(lambda: Execution.objects.get(pk=execution.pk).status in {"succeeded", "failed"}, 60)
        assert finished, procs[0].stderr.read1().decode() if procs[0].poll() is not None else "worker did not finish"
        execution.refresh_from_db()
        assert execution.status == "succeeded", execution.error
        assert execution.steps.get().status == "succeeded"
        assert User.objects.get(username="ann").job_title == "Lead"

        # The shell command does the same and waits for the result.
        call_command("run_workflow", "retitle", "--input", '{"title": "Chief"}', "--wait", "--timeout", "60")
        assert "succeeded" in capsys.readouterr().out
        assert User.objects.get(username="ann").job_title == "Chief"
