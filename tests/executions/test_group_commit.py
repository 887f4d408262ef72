"""Group commit: what must be durable (really committed, not just released to a savepoint) when.

These tests use real transactions (``transaction=True``), so ``connection.in_atomic_block``
tells whether the runner holds a transaction open.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.db import connection

from executions.models import Execution, StepRun
from executions.runner import Runner
from executions.tasks import claim
from workflows.actions import registry
from workflows.actions.base import Action, ActionContext

pytestmark = pytest.mark.django_db(transaction=True)


class Outside(Action):
    """Stands for an action with external side effects; notes what was committed when it ran."""

    key = "test.outside"
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {}}
    commits_alone = True
    seen: ClassVar[list[tuple[int, int]]] = []

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        # Only the step's own transaction is open: nothing of earlier steps is pending.
        type(self).seen.append(
            (len(connection.atomic_blocks), StepRun.objects.filter(execution_id=ctx.execution_id).count())
        )
        return {}


@pytest.fixture(autouse=True)
def outside_action(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.all_actions()
    monkeypatch.setitem(registry._ACTIONS, Outside.key, Outside())
    Outside.seen = []


def _start(workflow: Any, administrator: Any) -> Execution:
    from workflows.services import workflow_run

    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert claim(execution.pk)
    return Execution.objects.get(pk=execution.pk)


def test_retry_sleeps_with_no_transaction_open(make_workflow, administrator):
    workflow = make_workflow(
        [
            {"before": {"call": "test.big", "with": {"size": 1}}},
            {"flaky": {"call": "test.flaky", "with": {"fail_times": 1}, "retry": {"max_attempts": 2}}},
        ]
    )
    execution = _start(workflow, administrator)
    during_sleep: list[tuple[bool, int]] = []

    def sleep(_seconds: float) -> None:
        during_sleep.append((connection.in_atomic_block, StepRun.objects.filter(execution=execution).count()))

    assert Runner(execution, sleep=sleep).run() == "succeeded"
    assert during_sleep == [(False, 1)]  # the write lock is free, and the step before is committed


def test_action_that_commits_alone_runs_after_earlier_steps_committed(make_workflow, administrator):
    workflow = make_workflow(
        [
            {"a": {"call": "test.big", "with": {"size": 1}}},
            {"b": {"call": "test.big", "with": {"size": 1}}},
            {"out": {"call": "test.outside"}},
            {"c": {"call": "test.big", "with": {"size": 1}}},
        ]
    )
    execution = _start(workflow, administrator)
    assert Runner(execution).run() == "succeeded"
    # Its own transaction (a group of one) and its step savepoint; the two steps before it committed.
    assert Outside.seen == [(2, 2)]
    assert not connection.in_atomic_block
    assert execution.steps.count() == 4


def test_a_broken_group_that_held_the_claim_still_ends_the_execution(make_workflow, administrator, monkeypatch):
    from executions.tasks import run_execution
    from workflows.services import workflow_run

    workflow = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}])
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)

    def broken(*args: Any, **kwargs: Any) -> None:
        connection.needs_rollback = True  # as a failed query outside any step's savepoint leaves it
        raise RuntimeError("query failed")

    monkeypatch.setattr(Runner, "_check_cancel", broken)
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    execution.refresh_from_db()
    assert (execution.status, execution.error) == ("failed", "internal error: RuntimeError: query failed")
    assert execution.steps.count() == 0
    assert not connection.in_atomic_block
