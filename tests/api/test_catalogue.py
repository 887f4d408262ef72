"""The catalogue the builder and scripts read: actions, triggers, events, operators, DSL schema."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from directory.event_types import EVENT_TYPES
from workflows.actions.registry import all_actions
from workflows.dsl import load_schema

pytestmark = pytest.mark.django_db


def test_actions(admin_api: APIClient) -> None:
    actions = {a["key"]: a for a in admin_api.get("/api/v1/catalog/actions/").json()}
    assert set(actions) == {a.key for a in all_actions()}
    suspend = actions["user.suspend"]
    assert suspend["permissions"] == ["directory.change_user_state"]
    assert suspend["params_schema"]["required"] == ["user"]
    assert "state" in suspend["output_schema"]["properties"]


def test_triggers(admin_api: APIClient) -> None:
    triggers = {t["key"]: t for t in admin_api.get("/api/v1/catalog/triggers/").json()}
    assert set(triggers) == {"manual", "event", "schedule"}
    assert triggers["schedule"]["schema"]["properties"]["cron"]["type"] == "string"
    assert triggers["event"]["example"]["type"] == "event"


def test_events(admin_api: APIClient) -> None:
    events = {e["key"]: e for e in admin_api.get("/api/v1/catalog/events/").json()}
    assert set(events) == set(EVENT_TYPES)
    created = events["user.created"]
    assert created["resource_type"] == "user"
    assert {"email", "department"} <= set(created["objects"]["user"])


def test_operators_and_dsl_schema(admin_api: APIClient) -> None:
    operators = [o["key"] for o in admin_api.get("/api/v1/catalog/operators/").json()]
    assert {"eq", "in", "changed"} <= set(operators)
    schema = admin_api.get("/api/v1/dsl/schema/").json()
    assert schema == load_schema()
    assert schema["$defs"]["comparison"]["properties"]["op"]["enum"] == operators
