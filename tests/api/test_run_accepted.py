"""The run endpoint's 202 body, built without the ModelSerializer (``run_accepted_data``), is
exactly what ``RunAcceptedSerializer`` gives — which is what the OpenAPI schema documents."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from executions.api.serializers import RunAcceptedSerializer, run_accepted_data
from executions.models import Execution

pytestmark = pytest.mark.django_db


def _rendered(data: Any) -> Any:
    return json.loads(JSONRenderer().render(data))


def test_the_202_body_is_the_serializers(admin_api: APIClient, manual_workflow: Any) -> None:
    response = admin_api.post(
        f"/api/v1/workflows/{manual_workflow.pk}/runs/",
        {"input": {"user": "ann", "api_token": "s3cret"}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="ann-1",
    )

    assert response.status_code == 202
    execution = Execution.objects.get(pk=response.json()["id"])
    assert response.json() == _rendered(RunAcceptedSerializer(execution).data)
    assert response.json()["input"]["api_token"] != "s3cret"  # redacted, as the serializer does


def test_every_field_of_a_queued_execution_matches(manual_workflow: Any, administrator: Any) -> None:
    """Fields a fresh run leaves empty are set here too, so a difference in any of them shows."""
    now = timezone.now()
    earlier = Execution.objects.create(
        workflow=manual_workflow, version=manual_workflow.current_version, trigger_kind="manual"
    )
    execution = Execution.objects.create(
        workflow=manual_workflow,
        version=manual_workflow.current_version,
        trigger_kind="schedule",
        slot_at=now - timedelta(hours=1),
        idempotency_key="k-1",
        input={"user": "ann", "password": "hunter2", "nested": [{"secret": "x"}]},
        status="waiting",
        error="waiting for a command",
        depth=2,
        started_by=administrator,
        cancel_requested=True,
        cancelled_by=administrator,
        cancelled_at=now,
        rerun_of=earlier,
        wake_at=now + timedelta(days=3),
        started_at=now - timedelta(minutes=5),
        finished_at=now,
    )
    execution = Execution.objects.select_related("workflow", "version", "started_by", "cancelled_by").get(
        pk=execution.pk
    )

    assert _rendered(run_accepted_data(execution)) == _rendered(RunAcceptedSerializer(execution).data)
    assert _rendered(run_accepted_data(earlier)) == _rendered(RunAcceptedSerializer(earlier).data)


def test_a_run_that_has_run_keeps_its_steps(manual_workflow: Any) -> None:
    execution = Execution.objects.create(
        workflow=manual_workflow, version=manual_workflow.current_version, trigger_kind="api", run_count=1
    )
    execution.steps.create(sequence=1, key="do[0]", path="do[0]", name="activate", task_type="call", status="succeeded")

    body = _rendered(run_accepted_data(execution))

    assert [step["name"] for step in body["steps"]] == ["activate"]
    assert body == _rendered(RunAcceptedSerializer(execution).data)


def test_the_202_body_needs_no_query_of_its_own(
    manual_workflow: Any, administrator: Any, django_assert_num_queries: Any
) -> None:
    execution = Execution.objects.create(
        workflow=manual_workflow, version=manual_workflow.current_version, trigger_kind="api", started_by=administrator
    )
    with django_assert_num_queries(0):
        run_accepted_data(execution)
