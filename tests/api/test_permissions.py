"""Every endpoint with three kinds of caller: a role that may, a narrower role, and anonymous.

The narrower role is chosen per endpoint to show the rule that applies there: 403 when the
role may see objects of the kind but not do this to them (or may not list or create them),
404 on detail URLs of kinds the role may not see at all (existence is not confirmed), and in
a few rows a narrower role that *is* allowed (Help Desk editing a user, Command Runner
creating a command). Anonymous callers always get 401.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from rest_framework.test import APIClient

from directory.roles import (
    ADMINISTRATOR,
    ADMINISTRATOR_WITH_BILLING,
    COMMAND_RUNNER,
    HELP_DESK,
    MANAGER,
    READ_ONLY,
)
from tests.api.conftest import MANUAL_DEFINITION
from tests.api.test_agent_api import AGENT_OPERATIONS

pytestmark = pytest.mark.django_db

NO_ROLE = "no-role"


@dataclass(frozen=True)
class Case:
    """One endpoint call: who may (and gets ``ok``), a narrower role (and what it gets)."""

    operation: str
    method: str
    path: str
    ok: int
    narrow: str
    narrow_status: int
    body: Callable[[dict[str, Any]], Any] | None = None
    allowed: str = ADMINISTRATOR

    def url(self, objects: dict[str, Any]) -> str:
        return "/api/v1/" + self.path.format(**{name: getattr(obj, "pk", obj) for name, obj in objects.items()})


def _workflow_body(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda o: {"name": name, "definition": MANUAL_DEFINITION, "run_as": o["workflow"].run_as_id}


CASES = [
    # users
    Case("users_list", "get", "users/", 200, COMMAND_RUNNER, 403),
    Case("users_create", "post", "users/", 201, READ_ONLY, 403, lambda o: {"username": "cy", "email": "cy@x.com"}),
    Case("users_retrieve", "get", "users/{user}/", 200, COMMAND_RUNNER, 404),
    Case(
        "users_update", "put", "users/{user}/", 200, READ_ONLY, 403, lambda o: {"username": "ann", "email": "a@x.com"}
    ),
    Case("users_partial_update", "patch", "users/{user}/", 200, HELP_DESK, 200, lambda o: {"job_title": "AE"}),
    Case("users_partial_update_state", "patch", "users/{user}/", 200, HELP_DESK, 403, lambda o: {"state": "active"}),
    Case("users_destroy", "delete", "users/{user}/", 204, HELP_DESK, 403),
    # user groups
    Case("user_groups_list", "get", "user-groups/", 200, COMMAND_RUNNER, 403),
    Case("user_groups_create", "post", "user-groups/", 201, HELP_DESK, 403, lambda o: {"name": "Eng"}),
    Case("user_groups_retrieve", "get", "user-groups/{group}/", 200, COMMAND_RUNNER, 404),
    Case("user_groups_update", "put", "user-groups/{group}/", 200, READ_ONLY, 403, lambda o: {"name": "Sales EU"}),
    Case(
        "user_groups_partial_update",
        "patch",
        "user-groups/{group}/",
        200,
        READ_ONLY,
        403,
        lambda o: {"description": "d"},
    ),
    Case("user_groups_destroy", "delete", "user-groups/{group}/", 204, HELP_DESK, 403),
    Case("user_groups_members_list", "get", "user-groups/{group}/members/", 200, COMMAND_RUNNER, 404),
    Case(
        "user_groups_members_add",
        "post",
        "user-groups/{group}/members/",
        201,
        HELP_DESK,
        201,
        lambda o: {"user": o["other_user"].pk},
    ),
    Case(
        "user_groups_members_add_ro",
        "post",
        "user-groups/{group}/members/",
        201,
        READ_ONLY,
        403,
        lambda o: {"user": o["other_user"].pk},
    ),
    Case("user_groups_members_remove", "delete", "user-groups/{group}/members/{user}/", 204, READ_ONLY, 403),
    # devices and device groups
    Case("devices_list", "get", "devices/", 200, NO_ROLE, 403),
    Case(
        "devices_create",
        "post",
        "devices/",
        201,
        COMMAND_RUNNER,
        403,
        lambda o: {"hostname": "h2", "os_family": "linux"},
    ),
    Case("devices_retrieve", "get", "devices/{device}/", 200, NO_ROLE, 404),
    Case(
        "devices_update",
        "put",
        "devices/{device}/",
        200,
        READ_ONLY,
        403,
        lambda o: {"hostname": "ann-mac", "os_family": "macos", "locked": True},
    ),
    Case("devices_partial_update", "patch", "devices/{device}/", 200, HELP_DESK, 403, lambda o: {"locked": True}),
    Case("devices_destroy", "delete", "devices/{device}/", 204, READ_ONLY, 403),
    Case("devices_agent_token_list", "get", "devices/{device}/agent-token/", 200, NO_ROLE, 404),
    Case("devices_agent_token_create", "post", "devices/{device}/agent-token/", 201, READ_ONLY, 403),
    Case("devices_agent_token_revoke", "delete", "devices/{device}/agent-token/", 200, HELP_DESK, 403),
    Case("device_groups_list", "get", "device-groups/", 200, NO_ROLE, 403),
    Case("device_groups_create", "post", "device-groups/", 201, HELP_DESK, 403, lambda o: {"name": "Lab"}),
    Case("device_groups_retrieve", "get", "device-groups/{device_group}/", 200, NO_ROLE, 404),
    Case("device_groups_update", "put", "device-groups/{device_group}/", 200, READ_ONLY, 403, lambda o: {"name": "L"}),
    Case(
        "device_groups_partial_update",
        "patch",
        "device-groups/{device_group}/",
        200,
        HELP_DESK,
        403,
        lambda o: {"description": "d"},
    ),
    Case("device_groups_destroy", "delete", "device-groups/{device_group}/", 204, READ_ONLY, 403),
    Case("device_groups_members_list", "get", "device-groups/{device_group}/members/", 200, NO_ROLE, 404),
    Case(
        "device_groups_members_add",
        "post",
        "device-groups/{device_group}/members/",
        201,
        HELP_DESK,
        403,
        lambda o: {"device": o["other_device"].pk},
    ),
    Case(
        "device_groups_members_remove", "delete", "device-groups/{device_group}/members/{device}/", 204, READ_ONLY, 403
    ),
    # policies
    Case("policies_list", "get", "policies/", 200, NO_ROLE, 403),
    Case("policies_create", "post", "policies/", 201, HELP_DESK, 403, lambda o: {"name": "FW", "type": "firewall"}),
    Case("policies_retrieve", "get", "policies/{policy}/", 200, NO_ROLE, 404),
    Case(
        "policies_update",
        "put",
        "policies/{policy}/",
        200,
        READ_ONLY,
        403,
        lambda o: {"name": "Encrypt", "type": "disk_encryption", "settings": {"escrow": True}},
    ),
    Case("policies_partial_update", "patch", "policies/{policy}/", 200, READ_ONLY, 403, lambda o: {"description": "x"}),
    Case("policies_destroy", "delete", "policies/{policy}/", 204, HELP_DESK, 403),
    Case(
        "policies_bind",
        "post",
        "policies/{policy}/bind/",
        200,
        HELP_DESK,
        403,
        lambda o: {"device_group": o["device_group"].pk},
    ),
    Case(
        "policies_unbind", "post", "policies/{policy}/unbind/", 200, MANAGER, 200, lambda o: {"device": o["device"].pk}
    ),
    # commands and command runs
    Case("commands_list", "get", "commands/", 200, NO_ROLE, 403),
    Case("commands_create", "post", "commands/", 201, COMMAND_RUNNER, 201, lambda o: {"name": "Reboot", "script": "r"}),
    Case("commands_create_ro", "post", "commands/", 201, READ_ONLY, 403, lambda o: {"name": "Reboot", "script": "r"}),
    Case("commands_retrieve", "get", "commands/{command}/", 200, NO_ROLE, 404),
    Case(
        "commands_update",
        "put",
        "commands/{command}/",
        200,
        HELP_DESK,
        403,
        lambda o: {"name": "Uptime", "script": "uptime -p"},
    ),
    Case(
        "commands_partial_update", "patch", "commands/{command}/", 200, READ_ONLY, 403, lambda o: {"timeout_seconds": 5}
    ),
    Case("commands_destroy", "delete", "commands/{command}/", 204, COMMAND_RUNNER, 403),
    Case("command_runs_list", "get", "command-runs/", 200, NO_ROLE, 403),
    Case(
        "command_runs_create",
        "post",
        "command-runs/",
        201,
        HELP_DESK,
        403,
        lambda o: {"command": o["command"].pk, "device": o["device"].pk},
    ),
    Case("command_runs_retrieve", "get", "command-runs/{command_run}/", 200, NO_ROLE, 404),
    # notification channels
    Case("notification_channels_list", "get", "notification-channels/", 200, NO_ROLE, 403),
    Case(
        "notification_channels_create",
        "post",
        "notification-channels/",
        201,
        MANAGER,
        403,
        lambda o: {"name": "Ops", "kind": "email", "recipients": ["ops@example.com"]},
    ),
    Case("notification_channels_retrieve", "get", "notification-channels/{channel}/", 200, NO_ROLE, 404),
    Case(
        "notification_channels_update",
        "put",
        "notification-channels/{channel}/",
        200,
        MANAGER,
        403,
        lambda o: {"name": "IT", "kind": "slack"},
    ),
    Case(
        "notification_channels_partial_update",
        "patch",
        "notification-channels/{channel}/",
        200,
        READ_ONLY,
        403,
        lambda o: {"enabled": False},
    ),
    Case("notification_channels_destroy", "delete", "notification-channels/{channel}/", 204, MANAGER, 403),
    # connections: like channels, Administrators manage them and the directory-viewing roles
    # (Manager, Help Desk, Read Only) may only look
    Case("connections_list", "get", "connections/", 200, NO_ROLE, 403),
    Case("connections_list_help_desk", "get", "connections/", 200, HELP_DESK, 200),
    Case(
        "connections_create",
        "post",
        "connections/",
        201,
        READ_ONLY,
        403,
        lambda o: {"name": "Ticketing", "base_url": "https://tickets.example.com", "auth_type": "none"},
    ),
    Case("connections_retrieve", "get", "connections/{connection}/", 200, NO_ROLE, 404),
    Case("connections_retrieve_manager", "get", "connections/{connection}/", 200, MANAGER, 200),
    Case(
        "connections_update",
        "put",
        "connections/{connection}/",
        200,
        MANAGER,
        403,
        lambda o: {"name": "HR API", "base_url": "https://hr.example.com/v2", "auth_type": "none"},
    ),
    Case(
        "connections_partial_update",
        "patch",
        "connections/{connection}/",
        200,
        HELP_DESK,
        403,
        lambda o: {"timeout_seconds": 10},
    ),
    Case("connections_destroy", "delete", "connections/{connection}/", 204, MANAGER, 403),
    # roles and events
    Case("roles_list", "get", "roles/", 200, COMMAND_RUNNER, 403),
    Case(
        "roles_create",
        "post",
        "roles/",
        201,
        ADMINISTRATOR,
        403,
        lambda o: {"name": "Sales desk", "based_on": o["role"].pk},
        allowed=ADMINISTRATOR_WITH_BILLING,
    ),
    Case("roles_retrieve", "get", "roles/{role}/", 200, NO_ROLE, 404),
    Case("events_list", "get", "events/", 200, NO_ROLE, 403),
    Case("events_retrieve", "get", "events/{event}/", 200, COMMAND_RUNNER, 404),
    # workflows
    Case("workflows_list", "get", "workflows/", 200, HELP_DESK, 403),
    Case("workflows_list_ro", "get", "workflows/", 200, READ_ONLY, 200),
    Case("workflows_create", "post", "workflows/", 201, READ_ONLY, 403, _workflow_body("Second")),
    Case("workflows_retrieve", "get", "workflows/{workflow}/", 200, HELP_DESK, 404),
    Case("workflows_update", "put", "workflows/{workflow}/", 200, MANAGER, 403, _workflow_body("Renamed")),
    Case(
        "workflows_partial_update",
        "patch",
        "workflows/{workflow}/",
        200,
        READ_ONLY,
        403,
        lambda o: {"description": "d"},
    ),
    Case("workflows_destroy", "delete", "workflows/{workflow}/", 204, READ_ONLY, 403),
    Case("workflows_versions", "get", "workflows/{workflow}/versions/", 200, HELP_DESK, 404),
    Case("workflows_enable", "post", "workflows/{workflow}/enable/", 200, READ_ONLY, 403),
    Case("workflows_disable", "post", "workflows/{workflow}/disable/", 200, MANAGER, 403),
    Case(
        "workflows_validate",
        "post",
        "workflows/validate/",
        200,
        HELP_DESK,
        403,
        lambda o: {"definition": MANUAL_DEFINITION},
    ),
    Case(
        "workflows_run", "post", "workflows/{workflow}/runs/", 202, READ_ONLY, 403, lambda o: {"input": {"user": "ann"}}
    ),
    Case(
        "workflows_run_hidden",
        "post",
        "workflows/{workflow}/runs/",
        202,
        HELP_DESK,
        404,
        lambda o: {"input": {"user": "a"}},
    ),
    Case("workflows_export", "get", "workflows/{workflow}/export/", 200, HELP_DESK, 404),
    Case(
        "workflows_import",
        "post",
        "workflows/import/",
        201,
        READ_ONLY,
        403,
        lambda o: {"name": "Imported", "run_as": "Administrator", "definition": MANUAL_DEFINITION},
    ),
    # The fixture's workflow is not deleted: an Administrator passes the permission check and gets 409.
    Case("workflows_purge", "post", "workflows/{workflow}/purge/", 409, READ_ONLY, 403),
    Case("workflows_purge_hidden", "post", "workflows/{workflow}/purge/", 409, HELP_DESK, 404),
    # catalogue
    Case("catalog_actions", "get", "catalog/actions/", 200, HELP_DESK, 403),
    Case("catalog_triggers", "get", "catalog/triggers/", 200, HELP_DESK, 403),
    Case("catalog_events", "get", "catalog/events/", 200, HELP_DESK, 403),
    Case("catalog_operators", "get", "catalog/operators/", 200, HELP_DESK, 403),
    Case("dsl_schema", "get", "dsl/schema/", 200, HELP_DESK, 403),
    # templates
    Case("templates_list", "get", "templates/", 200, HELP_DESK, 403),
    Case("templates_retrieve", "get", "templates/offboarding/", 200, HELP_DESK, 404),
    Case("templates_instantiate", "post", "templates/reactivate-user/instantiate/", 201, READ_ONLY, 403, lambda o: {}),
    # executions
    Case("executions_list", "get", "executions/", 200, HELP_DESK, 403),
    Case("executions_retrieve", "get", "executions/{execution}/", 200, HELP_DESK, 404),
    Case("executions_retrieve_ro", "get", "executions/{execution}/", 200, MANAGER, 200),
    Case("executions_cancel", "post", "executions/{execution}/cancel/", 200, READ_ONLY, 403),
    Case("executions_cancel_hidden", "post", "executions/{execution}/cancel/", 200, HELP_DESK, 404),
    Case("executions_export", "get", "executions/{execution}/export/", 200, HELP_DESK, 404),
    Case("executions_export_csv", "get", "executions/export-csv/", 200, HELP_DESK, 403),
    # The fixture's execution is still queued: an Administrator passes the permission check and gets 409.
    Case("executions_rerun", "post", "executions/{execution}/rerun/", 409, READ_ONLY, 403),
]


@pytest.fixture
def caller(make_admin: Callable[..., Any], client_for: Callable[..., APIClient]) -> Callable[[str | None], APIClient]:
    """A token client for a new admin holding the role (``NO_ROLE``: signed-in, no role; None: anonymous)."""

    def make(role_key: str | None) -> APIClient:
        if role_key is None:
            return client_for(None)
        account = make_admin(f"caller-{role_key}", None if role_key == NO_ROLE else role_key)
        return client_for(account)

    return make


def _call(client: APIClient, case: Case, objects: dict[str, Any]) -> Any:
    body = case.body(objects) if case.body else None
    return getattr(client, case.method)(case.url(objects), body, format="json")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.operation)
def test_allowed_role(case: Case, objects: dict[str, Any], caller: Callable[..., APIClient]) -> None:
    response = _call(caller(case.allowed), case, objects)
    assert response.status_code == case.ok, response.content


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.operation)
def test_narrower_role(case: Case, objects: dict[str, Any], caller: Callable[..., APIClient]) -> None:
    response = _call(caller(case.narrow), case, objects)
    assert response.status_code == case.narrow_status, response.content
    if response.status_code >= 400:
        assert set(response.json()) == {"detail", "code"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.operation)
def test_anonymous(case: Case, objects: dict[str, Any], caller: Callable[..., APIClient]) -> None:
    response = _call(caller(None), case, objects)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_every_operation_is_covered(admin_api: APIClient) -> None:
    """The matrix above names every operation in the schema (so a new endpoint needs a row)."""
    schema = admin_api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operations = {op["operationId"] for item in schema["paths"].values() for op in item.values() if "operationId" in op}
    covered = {case.operation for case in CASES} | AGENT_OPERATIONS  # agents' own: test_agent_api
    assert operations - covered == set()


def test_hidden_kind_gives_404_even_for_missing_objects(caller: Callable[..., APIClient]) -> None:
    """A Help Desk admin cannot tell an existing workflow id from a missing one."""
    client = caller(HELP_DESK)
    assert client.get("/api/v1/workflows/999999/").status_code == 404
    assert client.post("/api/v1/workflows/999999/runs/", {}, format="json").status_code == 404


def test_session_authentication(administrator: Any, objects: dict[str, Any]) -> None:
    """The builder pages call the API with the admin's session."""
    client = APIClient()
    client.force_login(administrator)
    assert client.get("/api/v1/workflows/").status_code == 200


def test_billing_administrator_manages_workflows(caller: Callable[..., APIClient], objects: dict[str, Any]) -> None:
    client = caller(ADMINISTRATOR_WITH_BILLING)
    workflow = objects["workflow"]
    assert client.post(f"/api/v1/workflows/{workflow.pk}/disable/").status_code == 200
    assert client.post(f"/api/v1/workflows/{workflow.pk}/enable/").status_code == 200
    response = client.post(f"/api/v1/workflows/{workflow.pk}/runs/", {"input": {"user": "ann"}}, format="json")
    assert response.status_code == 202


def test_custom_copy_of_administrator_may_not_manage_workflows(
    make_admin: Callable[..., Any], client_for: Callable[..., APIClient], objects: dict[str, Any]
) -> None:
    """Managing, running and cancelling need an Administrator role itself, as in the admin."""
    from directory.models import AdminRole
    from directory.role_services import role_create

    copy = role_create(name="Admin copy", based_on=AdminRole.objects.get(key=ADMINISTRATOR), actor=None)
    account = make_admin("copycat")
    account.groups.set([copy.group])
    client = client_for(account)
    workflow, execution = objects["workflow"], objects["execution"]
    assert client.get(f"/api/v1/workflows/{workflow.pk}/").status_code == 200
    assert client.post(f"/api/v1/workflows/{workflow.pk}/disable/").status_code == 403
    assert (
        client.post(f"/api/v1/workflows/{workflow.pk}/runs/", {"input": {"user": "a"}}, format="json").status_code
        == 403
    )
    assert client.post(f"/api/v1/executions/{execution.pk}/cancel/").status_code == 403
    assert client.post("/api/v1/users/", {"username": "z", "email": "z@x.com"}, format="json").status_code == 201
