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


# --- the step's own savepoint does what a nested ``transaction.atomic()`` does ---------------


def _state() -> tuple[int, int, bool]:
    return len(connection.savepoint_ids), len(connection.atomic_blocks), connection.needs_rollback


def test_a_step_keeps_its_writes_and_leaves_the_transaction_as_it_found_it(administrator, ann):
    with transaction.atomic():
        before = _state()
        with step():
            assert len(connection.savepoint_ids) == before[0] + 1
            assert connection.savepoint_ids[-1] is not None  # a real savepoint, named as Django names them
            User.objects.filter(pk=ann.pk).update(job_title="Kept")
        assert _state() == before
    assert User.objects.get(pk=ann.pk).job_title == "Kept"


def test_a_failing_step_rolls_back_to_its_savepoint_and_the_transaction_goes_on(administrator, ann):
    callbacks: list[str] = []
    with transaction.atomic():
        before = _state()
        with pytest.raises(RuntimeError), step():
            User.objects.filter(pk=ann.pk).update(job_title="Undone")
            transaction.on_commit(lambda: callbacks.append("inside the failed step"))
            raise RuntimeError("the step failed")
        assert _state() == before
        assert User.objects.get(pk=ann.pk).job_title == ""  # usable, and the write is gone
        with step():
            transaction.on_commit(lambda: callbacks.append("inside a good step"))
        pending = [func for _sids, func, _robust in connection.run_on_commit]
    assert len(pending) == 1  # the failed step's callback went with its savepoint
    pending[0]()
    assert callbacks == ["inside a good step"]


def test_a_step_whose_query_failed_inside_rolls_back_even_if_the_error_was_caught(administrator, ann):
    from django.db import IntegrityError

    ds.user_create(actor=administrator, username="bob", email="bob@example.com")
    with transaction.atomic():
        with step():
            User.objects.filter(pk=ann.pk).update(job_title="Undone")
            try:
                with transaction.atomic(savepoint=False):  # a failure with no savepoint of its own
                    User.objects.filter(pk=ann.pk).update(email="bob@example.com")
            except IntegrityError:
                pass
            assert connection.needs_rollback
        assert not connection.needs_rollback  # the step's rollback cleared it
        assert User.objects.get(pk=ann.pk).job_title == ""


def test_a_durable_block_cannot_open_inside_a_step():
    with transaction.atomic(), step(), pytest.raises(RuntimeError, match="durable"), transaction.atomic(durable=True):
        pass


def test_a_step_is_a_plain_atomic_block_where_queries_are_logged(administrator, ann):
    with transaction.atomic(), CaptureQueriesContext(connection) as queries, step():
        User.objects.filter(pk=ann.pk).update(job_title="Seen")
    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["SAVEPOINT", "UPDATE", "RELEASE"]


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_a_step_is_its_own_transaction(administrator, ann):
    with step():
        assert connection.in_atomic_block
        User.objects.filter(pk=ann.pk).update(job_title="Committed")
    assert not connection.in_atomic_block
    assert User.objects.get(pk=ann.pk).job_title == "Committed"
