"""What the builder and the catalogue read from each action: labelled params, references marked
with their kind, a documented output, the permissions, and where the effect lands."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.workflows.actions.test_permissions import AREAS
from workflows.actions.base import DATABASE
from workflows.actions.registry import all_actions

ACTIONS = [a for a in all_actions() if a.__module__.rsplit(".", 1)[-1] in AREAS]
REFERENCES = {
    "user": "user",
    "manager": "user",
    "owner": "user",
    "group": None,  # a user group or a device group, by action
    "device": "device",
    "device_group": "device_group",
    "policy": "policy",
    "command": "command",
}


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.key)
def test_params_are_labelled_and_references_name_their_kind(action):
    schema = action.params_schema
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for name, param in schema["properties"].items():
        assert param.get("title"), f"{action.key}.{name} has no title"
        assert param.get("description"), f"{action.key}.{name} has no description"
        if name in REFERENCES:
            assert param.get("x-keyflow-ref") in {REFERENCES[name] or "group", "device_group"}, (action.key, name)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.key)
def test_output_permissions_and_effect_are_declared(action):
    Draft202012Validator.check_schema(action.output_schema)
    assert action.output_schema["properties"], action.key
    assert action.label and action.description.endswith("."), action.key
    assert action.permissions and all(p.startswith("directory.") for p in action.permissions)
    assert action.effect == DATABASE  # all of these stay in Keyflow's database (a command run is a row)


@pytest.mark.django_db
def test_the_catalogue_endpoint_serves_them(administrator):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=administrator).key}")
    served = {a["key"]: a for a in client.get("/api/v1/catalog/actions/").json()}
    run = served["device.run_command"]
    assert run["params_schema"]["properties"]["device"]["x-keyflow-ref"] == "device"
    assert run["params_schema"]["properties"]["wait"]["title"] == "Wait for the result"
    assert run["permissions"] == ["directory.run_command", "directory.view_device"]
    assert run["effect"] == "database" and "exit_code" in run["output_schema"]["properties"]
    assert {a.key for a in ACTIONS} <= set(served)
