"""The device agent API: enrolment tokens from the admin side, enrolment, polling for the device's
own commands, reporting results — and which credentials each endpoint accepts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from directory import services as ds
from directory.models import AgentToken, CommandRun, DirectoryEvent

pytestmark = pytest.mark.django_db

# Operations only an agent may call (tests/api/test_permissions.py covers every other one).
AGENT_OPERATIONS = {"agent_enrol", "agent_commands_list", "agent_commands_result"}


def agent_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Agent {token}")
    return client


@pytest.fixture
def enrolled(objects: dict[str, Any], administrator: Any) -> dict[str, Any]:
    """ann-mac's agent enrolled (its token) and bob-pc's too; ann-mac has the queued run ``command_run``."""
    tokens = {}
    for device in (objects["device"], objects["other_device"]):
        enrolment, _ = ds.agent_enrolment_token_create(device=device, actor=administrator)
        tokens[device.hostname] = ds.agent_enrol(enrolment=enrolment)[1]
    return {**objects, "tokens": tokens}


def test_an_admin_creates_an_enrolment_token_and_the_agent_enrols_with_it(admin_api: APIClient, objects: Any):
    device = objects["device"]
    created = admin_api.post(f"/api/v1/devices/{device.pk}/agent-token/")
    assert created.status_code == 201, created.content
    body = created.json()
    token = body["token"]
    assert token.startswith("kfe_") and body["device"] == {"id": device.pk, "hostname": "ann-mac"}
    assert body["server"] == "http://testserver"
    assert body["enrol_command"] == f"python3 keyflow_agent.py enrol --server http://testserver --token {token}"
    assert not AgentToken.objects.filter(key_hash=token).exists()  # only the hash is kept

    listed = admin_api.get(f"/api/v1/devices/{device.pk}/agent-token/").json()
    assert listed["enrolled"] is False
    assert [(t["kind"], t["prefix"], t["active"]) for t in listed["tokens"]] == [("enrolment", token[:12], True)]
    assert token not in str(listed)

    enrolled = agent_client(token).post("/api/v1/agent/enrol/", {"agent_version": "1.0.0"}, format="json")
    assert enrolled.status_code == 201, enrolled.content
    agent_token = enrolled.json()["token"]
    assert agent_token.startswith("kfa_") and enrolled.json()["poll_interval"] == 30
    assert agent_client(agent_token).get("/api/v1/agent/commands/").status_code == 200
    assert admin_api.get(f"/api/v1/devices/{device.pk}/agent-token/").json()["enrolled"] is True

    again = agent_client(token).post("/api/v1/agent/enrol/", {}, format="json")
    assert again.status_code == 401
    assert again.json()["detail"] == "This enrolment token was already used; create a new one for the device."
    assert again["WWW-Authenticate"] == "Agent"


def test_an_expired_or_revoked_enrolment_token_is_refused(admin_api: APIClient, objects: Any, administrator: Any):
    device = objects["device"]
    row, token = ds.agent_enrolment_token_create(device=device, actor=administrator)
    AgentToken.objects.filter(pk=row.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = agent_client(token).post("/api/v1/agent/enrol/", {}, format="json")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]

    _, token = ds.agent_enrolment_token_create(device=device, actor=administrator)
    assert admin_api.delete(f"/api/v1/devices/{device.pk}/agent-token/").json() == {"revoked": 1}
    revoked = agent_client(token).post("/api/v1/agent/enrol/", {}, format="json")
    assert revoked.status_code == 401 and revoked.json()["detail"] == "This enrolment token was revoked."


def test_the_agent_gets_its_own_devices_commands_once_and_reports(enrolled: dict[str, Any]):
    run = enrolled["command_run"]  # queued on ann-mac
    ann, bob = agent_client(enrolled["tokens"]["ann-mac"]), agent_client(enrolled["tokens"]["bob-pc"])

    assert bob.get("/api/v1/agent/commands/").json() == []
    fetched = ann.get("/api/v1/agent/commands/", HTTP_X_KEYFLOW_AGENT_VERSION="1.0.0")
    assert fetched.status_code == 200
    assert fetched.json() == [
        {
            "id": run.pk,
            "command": "Uptime",
            "shell": "bash",
            "script": "uptime",
            "timeout_seconds": 120,
            "requested_at": fetched.json()[0]["requested_at"],
        }
    ]
    assert CommandRun.objects.get(pk=run.pk).status == "running"
    assert ann.get("/api/v1/agent/commands/").json() == []  # handed out once
    device = enrolled["device"]
    device.refresh_from_db()
    assert device.last_contact_at is not None and device.agent_version == "1.0.0"

    result = {"exit_code": 3, "output": "hi\n"}
    assert bob.post(f"/api/v1/agent/commands/{run.pk}/result/", result, format="json").status_code == 404
    reported = ann.post(f"/api/v1/agent/commands/{run.pk}/result/", result, format="json")
    assert reported.status_code == 200, reported.content
    assert reported.json() == {"id": run.pk, "status": "failed", "exit_code": 3}
    run.refresh_from_db()
    assert (run.status, run.exit_code, run.output) == ("failed", 3, "hi\n")
    event = DirectoryEvent.objects.get(type="command.finished")
    assert (event.actor_type, event.actor_name, event.resource_id) == ("agent", "ann-mac", str(run.pk))

    twice = ann.post(f"/api/v1/agent/commands/{run.pk}/result/", result, format="json")
    assert twice.status_code == 409 and twice.json()["code"] == "conflict"


def test_a_result_for_a_run_not_fetched_or_badly_formed_is_refused(enrolled: dict[str, Any]):
    ann = agent_client(enrolled["tokens"]["ann-mac"])
    run = enrolled["command_run"]
    queued = ann.post(f"/api/v1/agent/commands/{run.pk}/result/", {"exit_code": 0}, format="json")
    assert queued.status_code == 409 and "is queued, not running" in queued.json()["detail"]
    ann.get("/api/v1/agent/commands/")
    bad = ann.post(f"/api/v1/agent/commands/{run.pk}/result/", {"exit_code": "zero", "status": "done"}, format="json")
    assert bad.status_code == 400 and set(bad.json()["errors"]) == {"exit_code", "status"}
    timed_out = ann.post(
        f"/api/v1/agent/commands/{run.pk}/result/", {"exit_code": None, "status": "timed_out"}, format="json"
    )
    assert timed_out.json() == {"id": run.pk, "status": "timed_out", "exit_code": None}
    assert ann.post("/api/v1/agent/commands/99999999999999999999/result/", {}, format="json").status_code == 404


def test_agent_endpoints_take_agent_tokens_only(admin_api: APIClient, enrolled: dict[str, Any]):
    for method, path in (
        ("get", "/api/v1/agent/commands/"),
        ("post", f"/api/v1/agent/commands/{enrolled['command_run'].pk}/result/"),
        ("post", "/api/v1/agent/enrol/"),
    ):
        response = getattr(admin_api, method)(path, {}, format="json")
        assert response.status_code == 401, (path, response.content)
        assert response["WWW-Authenticate"] == "Agent"
        assert getattr(APIClient(), method)(path, {}, format="json").status_code == 401
    # an agent token is not an enrolment token, and the other way round
    enrol = agent_client(enrolled["tokens"]["ann-mac"]).post("/api/v1/agent/enrol/", {}, format="json")
    assert enrol.status_code == 401 and enrol.json()["detail"] == "Invalid enrolment token."
    assert agent_client("kfa_made-up").get("/api/v1/agent/commands/").json()["detail"] == "Invalid agent token."


def test_agent_tokens_are_refused_everywhere_else(enrolled: dict[str, Any]):
    ann = agent_client(enrolled["tokens"]["ann-mac"])
    for path in ("users/", f"devices/{enrolled['device'].pk}/", "command-runs/", "workflows/", "catalog/actions/"):
        response = ann.get(f"/api/v1/{path}")
        assert response.status_code == 401, path
        assert response.json()["code"] == "not_authenticated"
    assert ann.post(f"/api/v1/devices/{enrolled['device'].pk}/agent-token/").status_code == 401


def test_a_revoked_agent_or_a_retired_device_is_refused(admin_api: APIClient, enrolled: dict[str, Any], administrator):
    ann, bob = agent_client(enrolled["tokens"]["ann-mac"]), agent_client(enrolled["tokens"]["bob-pc"])
    assert admin_api.delete(f"/api/v1/devices/{enrolled['device'].pk}/agent-token/").json() == {"revoked": 1}
    refused = ann.get("/api/v1/agent/commands/")
    assert refused.status_code == 401 and refused.json()["detail"] == "This agent token was revoked."
    ds.device_update(device=enrolled["other_device"], actor=administrator, active=False)
    assert bob.get("/api/v1/agent/commands/").json()["detail"] == "Device bob-pc is not active."
    assert DirectoryEvent.objects.filter(type="device.agent_revoked").count() == 1
