"""What every list endpoint owes its callers: stable pages, a query count that does not grow
with the page, and never a channel secret — in the channels themselves or in the event log."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from directory import services as ds
from workflows.services import workflow_create, workflow_run

pytestmark = pytest.mark.django_db

LISTS = [
    "users/",
    "user-groups/",
    "devices/",
    "device-groups/",
    "policies/",
    "commands/",
    "command-runs/",
    "notification-channels/",
    "connections/",
    "roles/",
    "events/",
    "workflows/",
    "executions/",
    "user-groups/{group}/members/",
    "device-groups/{device_group}/members/",
    "workflows/{workflow}/versions/",
]


def _url(path: str, objects: dict[str, Any]) -> str:
    return "/api/v1/" + path.format(**{name: getattr(obj, "pk", obj) for name, obj in objects.items()})


def _more_of_everything(actor: Any, objects: dict[str, Any], n: int) -> None:
    """``n`` more objects of every kind, each with the relations the lists show."""
    from tests.api.conftest import MANUAL_DEFINITION

    for i in range(n):
        user = ds.user_create(actor=actor, username=f"u{i}", email=f"u{i}@example.com", manager=objects["user"])
        ds.group_add_member(group=objects["group"], user=user, actor=actor)
        group = ds.group_create(actor=actor, name=f"group {i}")
        ds.group_add_member(group=group, user=user, actor=actor)
        device = ds.device_create(actor=actor, hostname=f"host-{i}", os_family="linux", owner=user)
        ds.device_group_add_member(device_group=objects["device_group"], device=device, actor=actor)
        device_group = ds.device_group_create(actor=actor, name=f"devices {i}")
        ds.device_group_add_member(device_group=device_group, device=device, actor=actor)
        policy = ds.policy_create(actor=actor, name=f"policy {i}", type="firewall")
        ds.policy_bind(policy=policy, device=device, actor=actor)
        ds.policy_bind(policy=policy, device_group=device_group, actor=actor)
        command = ds.command_create(actor=actor, name=f"command {i}", script="uptime")
        ds.command_run_request(command=command, device=device, actor=actor)
        ds.channel_create(actor=actor, name=f"channel {i}", kind="email", recipients=["it@example.com"])
        ds.connection_create(actor=actor, name=f"connection {i}", base_url=f"https://api{i}.example.com")
        workflow = workflow_create(
            name=f"workflow {i}", definition=MANUAL_DEFINITION, run_as=objects["workflow"].run_as, actor=actor
        )
        workflow_run(workflow=workflow, input={"user": user.username}, actor=actor)


@pytest.mark.parametrize("path", LISTS)
def test_list_queries_do_not_grow_with_the_page(
    path: str, admin_api: APIClient, administrator: Any, objects: dict[str, Any]
) -> None:
    with CaptureQueriesContext(connection) as few:
        assert admin_api.get(_url(path, objects)).status_code == 200
    _more_of_everything(administrator, objects, 4)
    with CaptureQueriesContext(connection) as many:
        response = admin_api.get(_url(path, objects))
    assert response.status_code == 200
    assert len(response.json()["results"]) > 1 or path.startswith("workflows/{")
    assert len(many) <= len(few), [q["sql"] for q in many.captured_queries]


def _page_query(context: CaptureQueriesContext, table: str) -> str:
    return next(q["sql"] for q in context.captured_queries if f'FROM "{table}"' in q["sql"] and "LIMIT" in q["sql"])


@pytest.mark.parametrize(
    ("path", "table"),
    [
        ("users/?ordering=state", "directory_user"),
        ("users/?ordering=-department", "directory_user"),
        ("command-runs/", "directory_commandrun"),
        ("executions/?ordering=queued_at", "executions_execution"),
    ],
)
def test_sorted_pages_break_ties_by_id(path: str, table: str, admin_api: APIClient, objects: dict[str, Any]) -> None:
    """Sorted by a field rows share, pages must still be disjoint: the id decides ties."""
    with CaptureQueriesContext(connection) as context:
        assert admin_api.get(f"/api/v1/{path}").status_code == 200
    order_by = _page_query(context, table).rsplit("ORDER BY", 1)[1]
    assert re.search(rf'"{table}"\."id" (ASC|DESC)\s+LIMIT', order_by), order_by


def test_tied_rows_are_paged_without_repeats(admin_api: APIClient, administrator: Any) -> None:
    for i in range(7):
        ds.user_create(actor=administrator, username=f"p{i}", email=f"p{i}@example.com")
    seen = []
    for offset in range(0, 7, 2):
        page = admin_api.get(f"/api/v1/users/?ordering=state&limit=2&offset={offset}").json()["results"]
        seen.extend(user["id"] for user in page)
    assert len(seen) == len(set(seen)) == 7


SECRET_URL = "https://hooks.slack.com/services/T0/B0/very-secret-url"
SECRET_KEY = "very-secret-signing-key"


def test_channel_secrets_never_appear_in_any_response(admin_api: APIClient, objects: dict[str, Any]) -> None:
    created = admin_api.post(
        "/api/v1/notification-channels/",
        {"name": "Ops", "kind": "slack", "webhook_url": SECRET_URL, "signing_key": SECRET_KEY},
        format="json",
    )
    assert created.status_code == 201, created.content
    channel = created.json()["id"]
    updated = admin_api.patch(
        f"/api/v1/notification-channels/{channel}/",
        {"name": "Ops 2", "webhook_url": SECRET_URL + "-2", "signing_key": SECRET_KEY + "-2"},
        format="json",
    )
    assert updated.status_code == 200, updated.content
    bodies = [created.content, updated.content]
    for path in ("notification-channels/", f"notification-channels/{channel}/", "events/?limit=500"):
        response = admin_api.get(f"/api/v1/{path}")
        assert response.status_code == 200
        bodies.append(response.content)
    assert admin_api.delete(f"/api/v1/notification-channels/{channel}/").status_code == 204
    bodies.append(admin_api.get("/api/v1/events/?limit=500").content)
    for body in bodies:
        text = body.decode()
        assert "very-secret" not in text and "hooks.slack.com" not in text
        assert "webhook_url" not in {key for item in _objects(json.loads(text)) for key in item}


def _objects(data: Any) -> list[dict[str, Any]]:
    """Every JSON object in a document (snapshots and changes nest them)."""
    found: list[dict[str, Any]] = []
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found.append(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
