"""Fixtures for runner tests: workflows built through the services, and test-only action types.

The test action types are real registered actions (registered for the test's duration) whose
behaviour the tests control: fail a number of times, overrun a timeout, die like a killed
worker. They act on the directory through the same services as the shipped actions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from directory import services as directory_services
from directory.models import AdminRole
from executions.models import Execution
from executions.tasks import run_execution
from workflows.actions import registry
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError
from workflows.actions.resolvers import resolve
from workflows.services import workflow_create, workflow_run


class WorkerDied(BaseException):
    """Stands in for a worker process killed mid-execution (not an Exception: nothing catches it)."""


class Flaky(Action):
    """Fails with a retryable error until it has been called ``fail_times`` times."""

    key = "test.flaky"
    label = category = description = "test"
    params_schema = {
        "type": "object",
        "properties": {"fail_times": {"type": "integer"}, "retryable": {"type": "boolean"}},
    }
    calls: list[int] = []

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        type(self).calls.append(1)
        if len(type(self).calls) <= params.get("fail_times", 0):
            raise ActionError(f"flaky failure {len(type(self).calls)}", retryable=params.get("retryable", True))
        return {"calls": len(type(self).calls)}


class SlowUpdate(Action):
    """Changes a user's job title, then takes ``seconds`` — to overrun a step timeout."""

    key = "test.slow_update"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"user": {}, "seconds": {"type": "number"}, "job_title": {}}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"])
        directory_services.user_update(user=user, actor=ctx.actor, job_title=params.get("job_title", "slow"))
        time.sleep(params["seconds"])
        return {"ok": True}


class Die(Action):
    """Kills the 'worker' the first time it runs (after earlier steps committed), or every time."""

    key = "test.die"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"always": {"type": "boolean"}}}
    died: list[int] = []

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("always") or not type(self).died:
            type(self).died.append(1)
            raise WorkerDied()
        return {"survived": True}


class CancelSelf(Action):
    """Asks for its own execution to be cancelled, as an admin would while it runs (committed at
    once, as an admin's cancel is: an external effect runs with no transaction open)."""

    key = "test.cancel_self"
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        from executions.services import execution_cancel

        execution_cancel(execution=Execution.objects.get(pk=ctx.execution_id), actor=ctx.actor)
        return {}


class Big(Action):
    """Returns an output of ``size`` characters."""

    key = "test.big"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"size": {"type": "integer"}}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"blob": "x" * params["size"]}


class Boom(Action):
    """Raises an unexpected exception (a bug in an action)."""

    key = "test.boom"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("kaboom")


class TwoWrites(Action):
    """Changes a user through one service, then makes a second service call fail on ``email``:
    the first change must go with the failed step."""

    key = "test.two_writes"
    effect = DATABASE
    label = category = description = "test"
    params_schema = {"type": "object", "properties": {"user": {}, "email": {"type": "string"}}}

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        user = directory_services.user_update(user=user, actor=ctx.actor, locked=True, job_title="Half-written")
        directory_services.user_update(user=user, actor=ctx.actor, locked=True, email=params["email"])
        return {}


TEST_ACTIONS = (Flaky, SlowUpdate, Die, CancelSelf, Big, Boom, TwoWrites)


@pytest.fixture(autouse=True)
def test_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    registry.all_actions()  # load the shipped ones first
    for cls in TEST_ACTIONS:
        monkeypatch.setitem(registry._ACTIONS, cls.key, cls())
    Flaky.calls = []
    Die.died = []


@pytest.fixture
def ann(administrator: Any) -> Any:
    return directory_services.user_create(
        actor=administrator, username="ann", email="ann@example.com", state="active", department="Sales"
    )


@pytest.fixture
def admin_role(db: None) -> AdminRole:
    return AdminRole.objects.get(key="administrator")


@pytest.fixture
def make_workflow(admin_role: AdminRole, administrator: Any) -> Callable[..., Any]:
    """Save a manual workflow through the service (validated like any other)."""
    counter = {"n": 0}

    def make(
        do: list[dict[str, Any]],
        *,
        input_schema: dict[str, Any] | None = None,
        role: AdminRole | None = None,
        trigger: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Any:
        counter["n"] += 1
        definition: dict[str, Any] = {"dsl": "1.0", "trigger": trigger or {"type": "manual"}, "do": do}
        if input_schema is not None:
            definition["input"] = {"schema": input_schema}
        return workflow_create(
            name=name or f"wf-{counter['n']}", definition=definition, run_as=role or admin_role, actor=administrator
        )

    return make


@pytest.fixture
def run(administrator: Any) -> Callable[..., Execution]:
    """Start a manual run and run it in this process (no heartbeat thread: the test DB is in a transaction)."""

    def go(workflow: Any, input: dict[str, Any] | None = None) -> Execution:
        execution = workflow_run(workflow=workflow, input=input or {}, actor=administrator)
        run_execution(execution.pk, heartbeat=False)
        execution.refresh_from_db()
        return execution

    return go
