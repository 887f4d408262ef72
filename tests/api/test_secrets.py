"""Secrets stay hidden in the API and the admin, under the one rule of ``directory.redaction``.

Before, the admin's execution page showed a run's ``password``/``token``/``api_key`` input in
clear, step outputs were shown whole, and a secret in a user's ``attributes`` was readable
through the users and events API (and copied in clear into events).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from directory import services
from directory.models import DirectoryEvent, User
from directory.redaction import REDACTED
from executions.models import Execution, StepRun
from tests.directory.test_admin import _user_form
from workflows.services import workflow_run

SECRET = "s3cret-value-7f2a"


# --- the API ----------------------------------------------------------------------------------------------


@pytest.fixture
def ann(administrator: Any) -> User:
    user = services.user_create(actor=administrator, username="ann", email="ann@example.com")
    services.user_update(user=user, actor=administrator, attributes={"api_token": SECRET, "team": "Blue"})
    return user


def test_the_events_api_does_not_show_secret_attributes(
    admin_api: APIClient, read_only_admin: Any, client_for: Any, ann: User
) -> None:
    # An event written before events were redacted is redacted on the way out.
    DirectoryEvent.objects.create(
        occurred_at=timezone.now(),
        type="user.updated",
        resource_type="user",
        resource_id=str(ann.pk),
        changes=[{"field": "attributes", "from": {}, "to": {"api_token": SECRET}}],
        snapshot={"id": ann.pk, "attributes": {"api_token": SECRET}},
    )
    for client in (admin_api, client_for(read_only_admin)):
        response = client.get("/api/v1/events/?limit=500")
        assert response.status_code == 200
        assert SECRET not in response.content.decode()
        assert REDACTED in response.content.decode()


def test_the_users_api_shows_secret_attributes_as_placeholders(admin_api: APIClient, ann: User) -> None:
    body = admin_api.get(f"/api/v1/users/{ann.pk}/").json()
    assert body["attributes"] == {"api_token": REDACTED, "team": "Blue"}
    assert SECRET not in admin_api.get("/api/v1/users/").content.decode()


def test_sending_the_placeholder_back_keeps_the_secret(admin_api: APIClient, ann: User) -> None:
    body = admin_api.get(f"/api/v1/users/{ann.pk}/").json()
    body["attributes"]["team"] = "Green"
    response = admin_api.patch(f"/api/v1/users/{ann.pk}/", {"attributes": body["attributes"]}, format="json")
    assert response.status_code == 200, response.json()
    ann.refresh_from_db()
    assert ann.attributes == {"api_token": SECRET, "team": "Green"}
    admin_api.patch(f"/api/v1/users/{ann.pk}/", {"attributes": {"api_token": "rotated"}}, format="json")
    ann.refresh_from_db()
    assert ann.attributes["api_token"] == "rotated"


@pytest.fixture
def run_with_secrets(manual_workflow: Any, administrator: Any) -> Execution:
    execution = workflow_run(
        workflow=manual_workflow, input={"user": "ann", "password": SECRET, "api_key": SECRET}, actor=administrator
    )
    StepRun.objects.create(
        execution=execution,
        sequence=99,
        key="x",
        path="do[9].x",
        name="x",
        task_type="call",
        status="succeeded",
        input={"token": REDACTED},
        output={"access_token": SECRET, "id": 5},
    )
    return execution


def test_the_executions_api_redacts_input_and_step_output(admin_api: APIClient, run_with_secrets: Execution) -> None:
    content = admin_api.get(f"/api/v1/executions/{run_with_secrets.pk}/").content.decode()
    assert SECRET not in content
    body = json.loads(content)
    assert body["input"]["password"] == REDACTED
    [step] = [s for s in body["steps"] if s["name"] == "x"]
    assert step["output"] == {"access_token": REDACTED, "id": 5}


# --- the admin --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["billing_admin", "read_only_admin"])
def test_the_admin_execution_page_redacts_the_input(
    client: Client, request: Any, who: str, run_with_secrets: Execution
) -> None:
    client.force_login(request.getfixturevalue(who))
    response = client.get(f"/admin/executions/execution/{run_with_secrets.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert SECRET not in content
    assert "&quot;password&quot;: &quot;***&quot;" in content


@pytest.mark.parametrize("who", ["billing_admin", "read_only_admin"])
def test_the_admin_event_page_redacts_old_events(client: Client, request: Any, who: str, ann: User) -> None:
    event = DirectoryEvent.objects.create(
        occurred_at=timezone.now(),
        type="user.updated",
        resource_type="user",
        resource_id=str(ann.pk),
        snapshot={"attributes": {"token": SECRET}},
    )
    client.force_login(request.getfixturevalue(who))
    response = client.get(f"/admin/directory/directoryevent/{event.pk}/change/")
    assert response.status_code == 200
    assert SECRET not in response.content.decode()


@pytest.mark.parametrize("who", ["billing_admin", "read_only_admin"])
def test_the_admin_user_page_redacts_attributes(client: Client, request: Any, who: str, ann: User) -> None:
    client.force_login(request.getfixturevalue(who))
    response = client.get(f"/admin/directory/user/{ann.pk}/change/")
    assert response.status_code == 200
    content = response.content.decode()
    assert SECRET not in content
    assert "Blue" in content


def test_saving_the_admin_user_form_keeps_the_secret(client: Client, billing_admin: Any, ann: User) -> None:
    client.force_login(billing_admin)
    form = client.get(f"/admin/directory/user/{ann.pk}/change/").context["adminform"].form
    shown = (
        json.loads(form["attributes"].value())
        if isinstance(form["attributes"].value(), str)
        else form["attributes"].value()
    )
    assert shown == {"api_token": REDACTED, "team": "Blue"}
    data = _user_form(ann, attributes=json.dumps({"api_token": REDACTED, "team": "Green"}))
    response = client.post(f"/admin/directory/user/{ann.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    ann.refresh_from_db()
    assert ann.attributes == {"api_token": SECRET, "team": "Green"}
