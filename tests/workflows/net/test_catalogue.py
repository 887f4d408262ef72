"""The four actions in the catalogue: a title and help on every param (the builder's labels), a
documented output, and the effect the runner needs to know (external ones run with no transaction)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from workflows.actions.registry import get_action

pytestmark = pytest.mark.django_db

EFFECTS = {"notify.email": "external", "notify.channel": "external", "http.request": "external", "api.call": "database"}


@pytest.mark.parametrize("key", sorted(EFFECTS))
def test_every_param_has_a_label_and_help_and_every_output_a_shape(key: str) -> None:
    action = get_action(key)
    assert action is not None
    assert action.effect == EFFECTS[key]
    for name, schema in action.params_schema["properties"].items():
        assert schema.get("title"), f"{key}.{name} has no title"
        assert schema.get("description") or name in ("method", "subject", "operation_id"), f"{key}.{name}"
    assert action.output_schema["properties"]


def test_the_catalogue_lists_them_with_the_connection_and_channel_pickers(administrator) -> None:
    client = APIClient()
    client.force_authenticate(administrator)
    actions = {a["key"]: a for a in client.get("/api/v1/catalog/actions/").json()}
    assert set(EFFECTS) <= set(actions)
    assert actions["notify.channel"]["params_schema"]["properties"]["channel"]["x-keyflow-ref"] == "channel"
    assert actions["http.request"]["params_schema"]["properties"]["connection"]["x-keyflow-ref"] == "connection"
    assert actions["notify.channel"]["permissions"] == ["directory.view_notificationchannel"]
