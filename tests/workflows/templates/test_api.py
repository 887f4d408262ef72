"""The templates API and ``manage.py instantiate_template``: list, detail, instantiate (a new
workflow, or a 400 naming each input at fault), and who may do which."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from directory import services as ds
from directory.actors import Actor
from workflows.models import Workflow
from workflows.templates_library import all_templates

pytestmark = pytest.mark.django_db


def _client(user) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def channel(db):
    return ds.channel_create(actor=Actor.system("test"), name="IT mail", kind="email", recipients=["it@example.com"])


def test_list_and_detail(administrator, read_only_admin):
    for user in (administrator, read_only_admin):  # viewing workflows is enough to see templates
        listed = _client(user).get("/api/v1/templates/")
        assert listed.status_code == 200
        assert [t["key"] for t in listed.json()] == [t.key for t in all_templates()]
    entry = next(t for t in listed.json() if t["key"] == "suspend-inactive-users")
    assert entry["category_label"] == "Inactive accounts" and entry["run_as"] == "manager"
    assert entry["trigger"] == "Every day at 07:00 UTC" and entry["trigger_type"] == "schedule"
    assert entry["inputs"][0] == {
        "name": "days",
        "type": "days",
        "label": "Inactive for (days)",
        "help": "Users whose last sign-in is older than this are suspended.",
        "required": False,
        "default": 90,
        "ref": "",
    }
    detail = _client(administrator).get("/api/v1/templates/suspend-inactive-users/").json()
    assert detail["definition"]["trigger"]["cron"] == "${at.minute} ${at.hour} * * *"
    assert _client(administrator).get("/api/v1/templates/nope/").status_code == 404


def test_instantiate_creates_the_workflow(administrator, channel):
    response = _client(administrator).post(
        "/api/v1/templates/suspend-inactive-users/instantiate/",
        {"inputs": {"days": 45, "channel": "it mail", "at": "06:30"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "Suspend users inactive for 45 days" and body["enabled"] is True
    assert body["run_as_name"] == "Manager" and body["type"] == "schedule"
    assert body["definition"]["trigger"]["cron"] == "30 6 * * *"
    assert body["definition"]["do"][2]["report"]["with"]["channel"] == "IT mail"
    workflow = Workflow.objects.get(pk=body["id"])
    assert workflow.created_by == administrator


def test_instantiate_reports_every_input_at_fault(administrator):
    response = _client(administrator).post(
        "/api/v1/templates/suspend-inactive-users/instantiate/",
        {"inputs": {"days": -1, "channel": "Ghost", "timezone": "Mars/Olympus", "extra": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "inputs.days": ["Enter a number of days from 1 to 3650."],
        "inputs.channel": ["No notification channel matches 'Ghost'."],
        "inputs.timezone": ["'Mars/Olympus' is not a time zone; use an IANA name such as Europe/Berlin."],
        "inputs.extra": ["This template has no input 'extra'."],
    }
    assert not Workflow.objects.exists()


def test_instantiate_with_a_name_and_disabled_and_a_taken_name(administrator):
    client = _client(administrator)
    first = client.post(
        "/api/v1/templates/reactivate-user/instantiate/", {"name": "Welcome back", "enabled": False}, format="json"
    )
    assert first.status_code == 201 and first.json()["enabled"] is False
    again = client.post("/api/v1/templates/reactivate-user/instantiate/", {"name": "welcome BACK"}, format="json")
    assert again.status_code == 400
    assert again.json()["errors"] == {"name": ["A workflow named 'welcome BACK' already exists; choose another name."]}


def test_only_administrator_roles_instantiate(read_only_admin, manager_admin, outsider):
    for user in (read_only_admin, manager_admin):
        response = _client(user).post("/api/v1/templates/reactivate-user/instantiate/", {}, format="json")
        assert response.status_code == 403
    assert _client(outsider).get("/api/v1/templates/").status_code == 403
    assert APIClient().get("/api/v1/templates/").status_code == 401
    assert not Workflow.objects.exists()


def test_the_command_lists_and_instantiates(channel):
    out = StringIO()
    call_command("instantiate_template", stdout=out)
    assert "suspend-inactive-users  (Inactive accounts; Every day at 07:00 UTC)" in out.getvalue()
    out = StringIO()
    call_command(
        "instantiate_template", "suspend-inactive-users", "--inputs", '{"channel": "IT mail"}', "--disabled", stdout=out
    )
    workflow = Workflow.objects.get()
    assert out.getvalue().strip() == (
        f"workflow {workflow.pk} 'Suspend users inactive for 90 days' created (disabled, runs as Manager)"
    )
    with pytest.raises(CommandError, match=r"Inputs refused:\n  days: Enter a whole number.\n  channel: This input"):
        call_command("instantiate_template", "suspend-inactive-users", "--inputs", '{"days": "many"}')
    with pytest.raises(CommandError, match="No template 'nope'"):
        call_command("instantiate_template", "nope")
