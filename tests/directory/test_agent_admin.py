"""Agent tokens in the admin: create enrolment tokens (shown once, on a page of their own), see
and revoke tokens — guarded by the device permissions, as in the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.admin import helpers
from django.test import Client
from django.urls import reverse

from directory import selectors, services
from directory.actors import Actor
from directory.models import AgentToken, Device

pytestmark = pytest.mark.django_db

SETUP = Actor.system("setup")
CHANGELIST = reverse("admin:directory_device_changelist")
TOKENS = reverse("admin:directory_agenttoken_changelist")


@pytest.fixture
def devices() -> list[Device]:
    return [services.device_create(actor=SETUP, hostname=h, os_family="linux") for h in ("lin-1", "lin-2")]


def _signed_in(client: Client, account: Any) -> Client:
    client.force_login(account)
    return client


def _action(client: Client, url: str, action: str, objects: list[Any]) -> Any:
    return client.post(url, {"action": action, helpers.ACTION_CHECKBOX_NAME: [o.pk for o in objects]})


def test_creating_enrolment_tokens_shows_each_once(client: Client, administrator: Any, devices: list[Device]):
    client = _signed_in(client, administrator)
    page = _action(client, CHANGELIST, "create_enrolment_tokens", devices)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    tokens = re.findall(r'value="(kfe_[^"]+)"', html)
    assert len(tokens) == 2 and "lin-1" in html and "lin-2" in html
    assert "--server http://testserver --token " + tokens[0] in html
    for token, device in zip(tokens, devices, strict=True):
        assert selectors.agent_token_for(token, kinds=["enrolment"]).device == device
    assert AgentToken.objects.filter(created_by=f"admin:{administrator.username}").count() == 2


def test_read_only_admins_see_tokens_but_create_and_revoke_none(client: Client, read_only_admin: Any, devices):
    row, _ = services.agent_enrolment_token_create(device=devices[0], actor=SETUP)
    client = _signed_in(client, read_only_admin)
    listed = client.get(TOKENS)
    assert listed.status_code == 200 and row.prefix in listed.content.decode()
    assert "Revoke selected tokens" not in listed.content.decode()
    assert "Create agent enrolment tokens" not in client.get(CHANGELIST).content.decode()

    _action(client, CHANGELIST, "create_enrolment_tokens", devices)
    _action(client, TOKENS, "revoke", [row])
    assert AgentToken.objects.count() == 1 and AgentToken.objects.get().revoked_at is None


def test_revoking_from_the_device_list_and_the_token_list(client: Client, manager_admin: Any, devices):
    agents = []
    for device in devices:
        enrolment, _ = services.agent_enrolment_token_create(device=device, actor=SETUP)
        agents.append(services.agent_enrol(enrolment=enrolment)[0])
    client = _signed_in(client, manager_admin)
    assert client.get(CHANGELIST).content.decode().count('alt="True"') >= 2  # the Agent column

    _action(client, CHANGELIST, "revoke_agent_tokens", [devices[0]])
    assert not selectors.device_has_agent(devices[0]) and selectors.device_has_agent(devices[1])
    _action(client, TOKENS, "revoke", [agents[1]])
    assert not selectors.device_has_agent(devices[1])


def test_device_list_queries_do_not_grow_with_devices(client, administrator, devices, django_assert_max_num_queries):
    for n in range(20):
        device = services.device_create(actor=SETUP, hostname=f"more-{n}", os_family="macos")
        services.agent_enrol(enrolment=services.agent_enrolment_token_create(device=device, actor=SETUP)[0])
    client = _signed_in(client, administrator)
    with django_assert_max_num_queries(20):
        assert client.get(CHANGELIST).status_code == 200
