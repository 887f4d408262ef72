"""A step the database rolls back to break a lock conflict (a deadlock, a serialization failure)
runs again in a fresh transaction instead of failing the execution.

Groups hold row locks for up to their budget, so on PostgreSQL two workers changing the same
users in opposite orders can deadlock; PostgreSQL then rolls one statement back. Nothing of that
step is left (its savepoint rolls back), so the runner commits what the group holds — the other
transaction gets through — and runs the step again.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import pytest
from django.db import OperationalError, connection, connections

from directory import services as directory_services
from directory.models import User
from executions.models import StepRun
from executions.tasks import run_execution
from workflows.actions import registry
from workflows.actions.base import DATABASE, EXTERNAL, Action, ActionContext
from workflows.actions.resolvers import resolve
from workflows.services import workflow_run


class _Deadlock(Exception):
    sqlstate = "40P01"  # what psycopg's DeadlockDetected carries


class LosesConflicts(Action):
    """Changes a user, then loses a lock conflict the first ``times`` runs (as PostgreSQL reports one)."""

    key = "test.loses_conflicts"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"user": {}, "times": {"type": "integer"}}}
    runs: ClassVar[list[int]] = []

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        type(self).runs.append(1)
        user = resolve("user", params["user"], lock=True)
        directory_services.user_update(user=user, actor=ctx.actor, locked=True, job_title=f"run {len(type(self).runs)}")
        if len(type(self).runs) <= params["times"]:
            raise OperationalError("deadlock detected") from _Deadlock()
        return {"runs": len(type(self).runs)}


class ExternalLosesConflict(LosesConflicts):
    key = "test.external_loses_conflict"
    effect = EXTERNAL


class LocksSecond(Action):
    """Sets ``reached`` and then changes ``user`` — a row another transaction may hold."""

    key = "test.locks_second"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"user": {}}}
    reached = threading.Event()

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        type(self).reached.set()
        user = resolve("user", params["user"], lock=True)
        directory_services.user_update(user=user, actor=ctx.actor, locked=True, department="Second")
        return {}


@pytest.fixture(autouse=True)
def conflict_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.all_actions()
    for cls in (LosesConflicts, ExternalLosesConflict, LocksSecond):
        monkeypatch.setitem(registry._ACTIONS, cls.key, cls())
    LosesConflicts.runs = []
    LocksSecond.reached = threading.Event()


def _run(make_workflow: Any, administrator: Any, do: list[dict[str, Any]]) -> Any:
    workflow = make_workflow(do)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    run_execution(execution.pk, heartbeat=False)
    execution.refresh_from_db()
    return execution


@pytest.mark.django_db(transaction=True)
def test_a_step_that_lost_a_conflict_runs_again_and_only_its_last_run_stays(make_workflow, administrator, ann):
    execution = _run(
        make_workflow, administrator, [{"s": {"call": "test.loses_conflicts", "with": {"user": "ann", "times": 2}}}]
    )
    assert execution.status == "succeeded", execution.error
    step = StepRun.objects.get(execution=execution)
    assert (step.status, step.attempts, step.output) == ("succeeded", 1, {"runs": 3})
    ann.refresh_from_db()
    assert ann.job_title == "run 3"  # the two rolled-back runs left nothing


@pytest.mark.django_db(transaction=True)
def test_a_step_that_keeps_losing_conflicts_fails_with_the_error(make_workflow, administrator, ann):
    execution = _run(
        make_workflow, administrator, [{"s": {"call": "test.loses_conflicts", "with": {"user": "ann", "times": 99}}}]
    )
    assert execution.status == "failed"
    assert "deadlock detected" in execution.error
    assert len(LosesConflicts.runs) == 6  # the first run and five more
    ann.refresh_from_db()
    assert ann.job_title == ""


@pytest.mark.django_db(transaction=True)
def test_an_external_step_is_not_run_again_on_a_conflict(make_workflow, administrator, ann):
    execution = _run(
        make_workflow,
        administrator,
        [{"s": {"call": "test.external_loses_conflict", "with": {"user": "ann", "times": 1}}}],
    )
    assert execution.status == "failed"
    assert len(LosesConflicts.runs) == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a real deadlock between two transactions: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_real_deadlock_with_another_transaction_costs_a_rerun_not_the_execution(
    make_workflow, administrator, ann, settings
):
    """The group changes ann and then wants bob; another transaction holds bob and then wants ann."""
    settings.KEYFLOW_GROUP_COMMIT_SECONDS = 30  # both steps in one group: ann stays locked
    bob = directory_services.user_create(actor=administrator, username="bob", email="bob@example.com")
    workflow = make_workflow(
        [
            {"first": {"call": "user.update", "with": {"user": "ann", "job_title": "First"}}},
            {"second": {"call": "test.locks_second", "with": {"user": "bob"}}},
        ]
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    other_done: list[str] = []

    def other_transaction() -> None:
        other = connections.create_connection("default")
        try:
            other.set_autocommit(False)
            with other.cursor() as cursor:
                cursor.execute("SELECT id FROM directory_user WHERE id = %s FOR UPDATE", [bob.pk])
                holding.set()
                LocksSecond.reached.wait(10)
                # Wait second: PostgreSQL breaks the deadlock in the transaction that waited first.
                threading.Event().wait(0.3)
                cursor.execute("UPDATE directory_user SET location = 'Other' WHERE id = %s", [ann.pk])
            other.commit()
            other_done.append("committed")
        except Exception as exc:  # the test reports what happened to this side
            other_done.append(f"{type(exc).__name__}: {exc}")
            other.rollback()
        finally:
            other.close()

    holding = threading.Event()
    thread = threading.Thread(target=other_transaction)
    thread.start()
    assert holding.wait(10)
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    thread.join(20)
    assert other_done == ["committed"]
    steps = dict(StepRun.objects.filter(execution=execution).values_list("name", "status"))
    assert steps == {"first": "succeeded", "second": "succeeded"}
    assert User.objects.get(pk=ann.pk).location == "Other" and User.objects.get(pk=bob.pk).department == "Second"


@pytest.mark.django_db(transaction=True)
def test_a_final_status_write_that_lost_a_conflict_is_written_again(make_workflow, administrator, ann, monkeypatch):
    """The last step's locks are committed first: they are what the other transaction waited for."""
    from executions import claims

    real_finish = claims.finish
    lost: list[bool] = []

    def finish_loses_once(execution, status, error, *, also_queued=False):
        if not lost:
            lost.append(connection.in_atomic_block)
            raise OperationalError("deadlock detected") from _Deadlock()
        return real_finish(execution, status, error, also_queued=also_queued)

    monkeypatch.setattr(claims, "finish", finish_loses_once)
    execution = _run(
        make_workflow, administrator, [{"s": {"call": "user.update", "with": {"user": "ann", "job_title": "Kept"}}}]
    )
    assert lost == [True]
    assert execution.status == "succeeded", execution.error
    assert StepRun.objects.get(execution=execution).status == "succeeded"
    ann.refresh_from_db()
    assert ann.job_title == "Kept"
