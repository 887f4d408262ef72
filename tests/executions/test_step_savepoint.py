"""Directory services called inside a workflow step join the step's savepoint."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from directory import services as ds
from directory.models import DirectoryEvent, User
from directory.step_savepoint import step
from executions.models import Execution
from executions.tasks import run_execution
from workflows.services import workflow_run

pytestmark = pytest.mark.django_db


def _savepoints(queries: CaptureQueriesContext) -> int:
    return len([q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")])


def test_a_step_changing_a_user_opens_one_savepoint(make_workflow, administrator, ann, settings):
    settings.KEYFLOW_GROUP_COMMIT_SECONDS = 3600
    steps = [
        {"a": {"call": "user.update", "with": {"user": "ann", "job_title": "One"}}},
        {"b": {"call": "user.update", "with": {"user": "ann", "department": "Two"}}},
    ]
    execution = workflow_run(workflow=make_workflow(steps), input={}, actor=administrator)
    with CaptureQueriesContext(connection) as queries:
        assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    # One per step, plus the group's own (a savepoint here: the test runs inside a transaction).
    assert _savepoints(queries) == 1 + 2
    ann.refresh_from_db()
    assert (ann.job_title, ann.department) == ("One", "Two")


def test_a_service_failing_inside_a_step_takes_the_steps_earlier_writes_with_it(make_workflow, administrator, ann):
    ds.user_create(actor=administrator, username="bob", email="bob@example.com")
    steps = [
        {
            "half": {
                "call": "test.two_writes",
                "with": {"user": "ann", "email": "bob@example.com"},
                "on_error": "continue",
            }
        },
        {"after": {"call": "user.update", "with": {"user": "ann", "department": "Still works"}}},
    ]
    events_before = DirectoryEvent.objects.filter(resource_id=str(ann.pk)).count()
    execution = workflow_run(workflow=make_workflow(steps), input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    half, after = Execution.objects.get(pk=execution.pk).steps.order_by("sequence")
    assert (half.status, after.status) == ("failed", "succeeded")
    assert "email" in half.error
    ann = User.objects.get(pk=ann.pk)
    assert (ann.job_title, ann.department) == ("", "Still works")  # the first write went with the step
    assert DirectoryEvent.objects.filter(resource_id=str(ann.pk)).count() == events_before + 1


def test_outside_a_step_a_failing_service_still_rolls_back_only_itself(administrator, ann):
    ds.user_create(actor=administrator, username="bob", email="bob@example.com")
    with transaction.atomic():
        ds.user_update(user=ann, actor=administrator, job_title="Kept")
        with pytest.raises(ValidationError):
            ds.user_update(user=User.objects.get(pk=ann.pk), actor=administrator, email="bob@example.com")
        ann.refresh_from_db()  # the transaction is still usable: the service had its own savepoint
    assert User.objects.get(pk=ann.pk).job_title == "Kept"


def test_services_nested_in_a_service_inside_a_step_keep_their_savepoints(administrator, ann):
    with transaction.atomic(), step(), CaptureQueriesContext(connection) as queries:
        ds.user_update(user=ann, actor=administrator, job_title="Direct")
        with transaction.atomic():  # not directly in the step any more
            ds.user_update(user=User.objects.get(pk=ann.pk), actor=administrator, department="Nested")
    assert _savepoints(queries) == 2  # the explicit atomic's and the nested service's
