"""A group transaction writes its steps' unlistened directory events at its commit, in the same
transaction (``directory.event_log``, ``executions.commit_group``)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from directory import services as directory_services
from directory.models import DirectoryEvent
from executions.commit_group import CommitGroup
from executions.models import Execution
from executions.runner import Runner
from executions.tasks import claim
from workflows.actions import registry
from workflows.actions.base import Action, ActionContext
from workflows.actions.resolvers import resolve
from workflows.services import workflow_run


class SwallowsError(Action):
    """Changes a user, then catches a service's error and goes on — which a shipped action never
    does: the service joined the step's savepoint, so the database rolls the whole step back."""

    key = "test.swallows_error"
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"user": {}}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        directory_services.user_update(user=user, actor=ctx.actor, locked=True, job_title="Changed")
        with contextlib.suppress(ValidationError):  # "a user cannot be their own manager"
            directory_services.user_update(user=user, actor=ctx.actor, locked=True, manager=user)
        return {"ok": True}


@pytest.fixture(autouse=True)
def swallows_error(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.all_actions()
    monkeypatch.setitem(registry._ACTIONS, SwallowsError.key, SwallowsError())


def _started(workflow: Any, administrator: Any) -> Execution:
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert claim(execution.pk)
    return Execution.objects.get(pk=execution.pk)


def _updates(user: Any) -> Any:
    return DirectoryEvent.objects.filter(type="user.updated", resource_id=str(user.pk)).order_by("id")


@pytest.fixture
def two_updates(make_workflow: Any) -> Any:
    return make_workflow(
        [
            {"title": {"call": "user.update", "with": {"user": "ann", "job_title": "Engineer"}}},
            {"where": {"call": "user.update", "with": {"user": "ann", "location": "Berlin"}}},
        ]
    )


def test_a_steps_unlistened_events_are_written_with_the_groups_commit(two_updates, administrator, ann):
    execution = _started(two_updates, administrator)
    group = CommitGroup(budget=3600)
    assert Runner(execution, group=group).run() == "succeeded"
    assert not _updates(ann).exists()  # collected, not yet written
    assert [e.type for e in group.pending_events] == ["user.updated", "user.updated"]
    assert group.commit()
    written = list(_updates(ann))
    assert [e.changes[0]["field"] for e in written] == ["job_title", "location"]
    assert [e.changes[0]["to"] for e in written] == ["Engineer", "Berlin"]
    assert all(e.caused_by_execution_id == execution.pk and e.dispatched_at is not None for e in written)
    assert written[0].occurred_at <= written[1].occurred_at
    assert written[1].snapshot["location"] == "Berlin" and written[1].snapshot["job_title"] == "Engineer"


def test_a_group_rolled_back_writes_none_of_its_events(two_updates, administrator, ann):
    execution = _started(two_updates, administrator)
    group = CommitGroup(budget=3600)
    Runner(execution, group=group).run()
    transaction.set_rollback(True)  # as a failed query outside any step's savepoint leaves it
    assert not group.commit()
    assert not _updates(ann).exists()
    group.open()
    assert group.pending_events == []  # nothing carried over into the next group
    group.commit()


def test_events_something_listens_to_are_written_at_once(two_updates, make_workflow, administrator, ann):
    make_workflow(
        [{"noop": {"switch": [{"default": {"do": []}}]}}],
        trigger={"type": "event", "event": "user.updated"},
    )
    execution = _started(two_updates, administrator)
    group = CommitGroup(budget=3600)
    Runner(execution, group=group).run()
    written = list(_updates(ann))  # before the commit: their dispatch needs their ids
    assert len(written) == 2 and all(e.dispatched_at is None for e in written)
    assert group.pending_events == []
    group.commit()


def test_events_in_a_savepoint_inside_a_step_are_written_and_rolled_back_with_it(administrator, ann):
    """Only what is written directly in the step's own savepoint is deferred: a savepoint opened
    inside the step can roll back while the step goes on, and its events must go with it."""
    group = CommitGroup(budget=3600)
    group.open()
    with group.step():
        with pytest.raises(RuntimeError), transaction.atomic():
            directory_services.user_update(user=ann, actor=administrator, job_title="Rolled back")
            assert _updates(ann).count() == 1  # written at once, inside the inner savepoint
            raise RuntimeError("the inner savepoint rolls back")
        ann.refresh_from_db()
        directory_services.user_update(user=ann, actor=administrator, department="Kept")
    assert not _updates(ann).exists()
    assert [e.changes for e in group.pending_events] == [[{"field": "department", "from": "Sales", "to": "Kept"}]]
    group.commit()
    assert [e.changes[0]["to"] for e in _updates(ann)] == ["Kept"]


def test_a_step_rolled_back_without_an_exception_fails_and_keeps_no_record_of_its_change(
    make_workflow, administrator, ann
):
    workflow = make_workflow([{"swallow": {"call": "test.swallows_error", "with": {"user": "ann"}}}])
    execution = _started(workflow, administrator)
    group = CommitGroup(budget=3600)
    assert Runner(execution, group=group).run() == "failed"
    group.commit()
    step = execution.steps.get()
    assert step.status == "failed" and "rolled back" in step.error
    ann.refresh_from_db()
    assert ann.job_title == "" and ann.manager_id is None
    assert not _updates(ann).exists()  # no event for the change the database did not keep
