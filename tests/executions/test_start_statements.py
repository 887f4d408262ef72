"""Starting a run costs few statements: it is the one write an API caller waits for."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions.models import Execution
from workflows.services import _input_validator, workflow_run

pytestmark = pytest.mark.django_db

STEPS = [{"a": {"call": "test.big", "with": {"size": 1}}}]


def test_a_run_without_an_idempotency_key_opens_no_savepoint_of_its_own(make_workflow, administrator):
    workflow = make_workflow(STEPS)
    with CaptureQueriesContext(connection) as queries:
        execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    sql = [q["sql"] for q in queries.captured_queries]
    # The test's transaction makes the service's own atomic a savepoint; nothing nests inside it.
    assert len([s for s in sql if s.startswith("SAVEPOINT")]) == 1
    assert len([s for s in sql if s.startswith('INSERT INTO "executions_execution"')]) == 1
    stored = Execution.objects.get(pk=execution.pk)
    assert (stored.status, stored.input, stored.version_id) == ("queued", {}, workflow.current_version_id)
    assert stored.queued_at is not None


def test_a_repeated_idempotency_key_still_returns_the_first_run(make_workflow, administrator):
    workflow = make_workflow(STEPS)
    first = workflow_run(workflow=workflow, input={}, actor=administrator, idempotency_key="k-1")
    again = workflow_run(workflow=workflow, input={}, actor=administrator, idempotency_key="k-1")
    assert again.pk == first.pk and Execution.objects.filter(workflow=workflow).count() == 1


def test_the_input_validator_is_built_once_per_schema(make_workflow, administrator):
    workflow = make_workflow(STEPS, input_schema={"type": "object", "properties": {"n": {"type": "integer"}}})
    workflow_run(workflow=workflow, input={"n": 1}, actor=administrator)
    hits = _input_validator.cache_info().hits
    workflow_run(workflow=workflow, input={"n": 2}, actor=administrator)
    assert _input_validator.cache_info().hits == hits + 1
