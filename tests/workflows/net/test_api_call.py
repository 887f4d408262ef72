"""api.call: an operation of Keyflow's own API by operationId, through the API's own permission checks
as the run-as role — allowed what the role may do, refused what it may not — with its changes
attributed to the execution."""

from __future__ import annotations

from typing import Any

import pytest

from directory import services as ds
from directory.models import AdminRole, DirectoryEvent, User
from executions.models import Execution

from .conftest import step_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(administrator: Any) -> User:
    return ds.user_create(
        actor=administrator, username="ann", email="ann@example.com", state="active", department="Sales"
    )


def test_does_what_the_role_may_and_the_execution_is_the_author(run_one, ann: User) -> None:
    execution = run_one(
        "api.call",
        {"operation_id": "users_partial_update", "path_params": {"id": ann.pk}, "body": {"job_title": "Engineer"}},
        role="help-desk",
    )
    assert execution.status == "succeeded", execution.error
    output = step_of(execution).output
    assert (output["operation_id"], output["status"], output["truncated"]) == ("users_partial_update", 200, False)
    assert output["body"]["job_title"] == "Engineer"
    ann.refresh_from_db()
    assert ann.job_title == "Engineer"
    event = DirectoryEvent.objects.filter(type="user.updated", resource_id=str(ann.pk)).latest("id")
    assert (event.actor_type, event.caused_by_execution_id, event.depth) == ("execution", execution.pk, 1)


def test_is_refused_what_the_role_may_not_do(run_one, ann: User) -> None:
    execution = run_one(
        "api.call",
        {"operation_id": "users_destroy", "path_params": {"id": ann.pk}},
        role="help-desk",
        retry={"max_attempts": 3},
    )
    assert execution.status == "failed"
    step = step_of(execution)
    assert step.attempts == 1  # a permission error is never retried
    assert step.error == (
        "run-as role Help Desk may not users_destroy: 403 You do not have permission to perform this action."
    )
    assert User.objects.filter(pk=ann.pk).exists()


def test_objects_the_role_may_not_see_are_not_found(run_one, ann: User) -> None:
    execution = run_one(
        "api.call", {"operation_id": "users_retrieve", "path_params": {"id": ann.pk}}, role="command-runner"
    )
    assert execution.status == "failed"
    assert step_of(execution).error == ("users_retrieve: 404 Not found. (or run-as role Command Runner may not see it)")


def test_lists_with_filters(run_one, ann: User, administrator: Any) -> None:
    ds.user_create(actor=administrator, username="bob", email="bob@example.com", department="Support")
    execution = run_one(
        "api.call", {"operation_id": "users_list", "query": {"department": "Sales", "limit": 10}}, role="read-only"
    )
    assert execution.status == "succeeded", execution.error
    body = step_of(execution).output["body"]
    assert body["count"] == 1
    assert [u["username"] for u in body["results"]] == ["ann"]


def test_invalid_input_is_the_api_s_400(run_one) -> None:
    execution = run_one(
        "api.call", {"operation_id": "users_create", "body": {"username": "zed", "email": "not-an-email"}}
    )
    assert execution.status == "failed"
    assert step_of(execution).error == "users_create: 400 Invalid input. — email: Enter a valid email address."
    assert not User.objects.filter(username="zed").exists()


@pytest.mark.parametrize(
    ("operation_id", "reason"),
    [
        ("workflows_run", "escape the trigger-depth limit"),
        ("workflows_partial_update", "skip the review that saving one gets"),
        ("roles_create", "people change them, not workflows"),
        ("connections_partial_update", "connections hold credentials"),
        ("notification_channels_destroy", "notification channels hold credentials"),
    ],
)
def test_dangerous_operations_are_refused_whatever_the_role(run_one, operation_id: str, reason: str) -> None:
    roles_before = AdminRole.objects.count()
    execution = run_one(
        "api.call", {"operation_id": operation_id, "path_params": {"id": 1}, "body": {}}, role="administrator"
    )
    assert execution.status == "failed"
    error = step_of(execution).error
    assert error.startswith(f"api.call may not run {operation_id}: ")
    assert reason in error
    assert AdminRole.objects.count() == roles_before
    assert Execution.objects.count() == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"operation_id": "users_lst"}, "no API operation has operationId 'users_lst' (did you mean 'users_list'?)"),
        ({"operation_id": "users_retrieve"}, "users_retrieve needs path parameter(s) id"),
        (
            {"operation_id": "users_list", "path_params": {"id": 1}},
            "users_list has no path parameter 'id' (it takes: none)",
        ),
        (
            {"operation_id": "users_list", "query": {"departmnt": "Sales"}},
            "users_list has no query parameter 'departmnt'",
        ),
        ({"operation_id": "users_list", "body": {"x": 1}}, "users_list takes no body"),
    ],
)
def test_bad_params_are_clear_errors(run_one, params: dict[str, Any], message: str) -> None:
    execution = run_one("api.call", params)
    assert execution.status == "failed"
    assert step_of(execution).error.startswith(message)
