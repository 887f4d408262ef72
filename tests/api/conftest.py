"""API test fixtures: clients for each kind of caller, and one object of every kind to act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from directory import services as ds
from directory.models import AdminRole, DirectoryEvent
from executions.models import Execution
from workflows.models import Workflow
from workflows.services import workflow_create, workflow_run

MANUAL_DEFINITION: dict[str, Any] = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {"schema": {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}}},
    "do": [{"activate": {"call": "user.activate", "with": {"user": "{{ input.user }}"}}}],
}


@pytest.fixture
def client_for(db: None) -> Callable[[AbstractUser | None], APIClient]:
    """An API client authenticated with the account's token (anonymous for None)."""

    def make(user: AbstractUser | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return make


@pytest.fixture
def admin_api(client_for: Callable[..., APIClient], administrator: AbstractUser) -> APIClient:
    return client_for(administrator)


@pytest.fixture
def admin_role(db: None) -> AdminRole:
    return AdminRole.objects.get(key="administrator")


@pytest.fixture
def manual_workflow(admin_role: AdminRole, administrator: AbstractUser) -> Workflow:
    return workflow_create(
        name="Activate by hand", definition=MANUAL_DEFINITION, run_as=admin_role, actor=administrator
    )


@pytest.fixture
def objects(administrator: AbstractUser, manual_workflow: Workflow) -> dict[str, Any]:
    """One object of every kind the API serves, made through the services."""
    user = ds.user_create(actor=administrator, username="ann", email="ann@example.com", department="Sales")
    other_user = ds.user_create(actor=administrator, username="bob", email="bob@example.com")
    group = ds.group_create(actor=administrator, name="Sales")
    ds.group_add_member(group=group, user=user, actor=administrator)
    device = ds.device_create(actor=administrator, hostname="ann-mac", os_family="macos", owner=user)
    device_group = ds.device_group_create(actor=administrator, name="Laptops")
    ds.device_group_add_member(device_group=device_group, device=device, actor=administrator)
    other_device = ds.device_create(actor=administrator, hostname="bob-pc", os_family="windows")
    policy = ds.policy_create(actor=administrator, name="Encrypt", type="disk_encryption")
    command = ds.command_create(actor=administrator, name="Uptime", script="uptime")
    command_run = ds.command_run_request(command=command, device=device, actor=administrator)
    channel = ds.channel_create(
        actor=administrator, name="IT", kind="slack", webhook_url="https://hooks.slack.com/services/T0/B0/secret"
    )
    connection = ds.connection_create(
        actor=administrator,
        name="HR API",
        base_url="https://hr.example.com/api",
        auth_type="bearer",
        secret="hr-token-secret",
    )
    execution = workflow_run(workflow=manual_workflow, input={"user": "ann"}, actor=administrator)
    return {
        "user": user,
        "other_user": other_user,
        "other_device": other_device,
        "group": group,
        "device": device,
        "device_group": device_group,
        "policy": policy,
        "command": command,
        "command_run": command_run,
        "channel": channel,
        "connection": connection,
        "role": AdminRole.objects.get(key="read-only"),
        "event": DirectoryEvent.objects.filter(type="user.created", resource_id=str(user.pk)).get(),
        "workflow": manual_workflow,
        "execution": Execution.objects.get(pk=execution.pk),
    }
