"""notify.email and notify.channel, run as workflow steps: emails in Django's outbox, Slack, Teams and
webhook deliveries received by real local servers (a webhook's signature checked with the README's
recipe), retries on 503 and 429, refusals, and no webhook URL in any record."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from django.core import mail
from guardian.shortcuts import assign_perm

from directory import services as ds
from directory.models import NotificationChannel
from directory.role_services import role_create
from workflows.services import WorkflowInvalid

from .conftest import ScriptedServer, step_of

pytestmark = pytest.mark.django_db

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_verifier() -> Any:
    """The signature check exactly as the README documents it for receivers."""
    text = README.read_text()
    section = text[text.index("### Verifying webhook signatures") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    scope: dict[str, Any] = {}
    exec(code, scope)
    return scope["verify_keyflow_signature"]


def _stored(step: Any) -> str:
    return json.dumps([step.input, step.output, step.error])


# --- notify.email ---------------------------------------------------------------------------------


@pytest.fixture
def ann(administrator: Any) -> Any:
    return ds.user_create(actor=administrator, username="ann", email="ann@example.com", state="active")


def test_email_to_addresses_and_users(run_one, ann, settings) -> None:
    settings.DEFAULT_FROM_EMAIL = "Keyflow <keyflow@corp.example>"
    execution = run_one(
        "notify.email",
        {
            "to": ["it@example.com", "ann", ann.pk],  # ann twice (username, id): one address
            "cc": "boss@example.com",
            "subject": "Welcome {{ 'aboard' }}",
            "body": "Hello Ann",
            "html": "<p>Hello <b>Ann</b></p>",
        },
    )
    assert execution.status == "succeeded", execution.error
    (message,) = mail.outbox
    assert message.to == ["it@example.com", "ann@example.com"]
    assert message.cc == ["boss@example.com"]
    assert (message.subject, message.body, message.from_email) == (
        "Welcome aboard",
        "Hello Ann",
        "Keyflow <keyflow@corp.example>",
    )
    assert message.alternatives[0][0] == "<p>Hello <b>Ann</b></p>"
    output = step_of(execution).output
    assert output["recipients"] == ["it@example.com", "ann@example.com", "boss@example.com"]
    assert output["message_id"] == message.extra_headers["Message-ID"]
    assert re.fullmatch(r"<keyflow\.[0-9a-f]{32}@corp\.example>", output["message_id"])
    assert message.message()["Message-ID"] == output["message_id"]


def test_email_errors_are_clear_and_send_nothing(run_one) -> None:
    execution = run_one("notify.email", {"to": ["ann@@example.com"], "subject": "x", "body": "y"})
    assert execution.status == "failed"
    assert step_of(execution).error == "to address 'ann@@example.com' is not a valid email address"

    execution = run_one("notify.email", {"to": ["nobody-here"], "subject": "x", "body": "y"})
    assert step_of(execution).error == "No user matches 'nobody-here'"
    assert mail.outbox == []


def test_email_to_a_user_the_role_may_not_see_is_refused(run_one, administrator, ann) -> None:
    """Reading a user's address is reading the directory: a role without view_user on that user
    cannot email them (addresses need no permission)."""
    blind = role_create(name="Mailer", based_on=None, actor=administrator)
    execution = run_one("notify.email", {"to": ["ann"], "subject": "x", "body": "y"}, role=blind)
    assert execution.status == "failed"
    assert step_of(execution).error == "run-as role Mailer may not email user ann@example.com"
    assert mail.outbox == []

    ok = run_one("notify.email", {"to": ["it@example.com"], "subject": "x", "body": "y"}, role=blind)
    assert ok.status == "succeeded"
    assert len(mail.outbox) == 1


# --- notify.channel -------------------------------------------------------------------------------


def _channel(system: Any, name: str, kind: str, **fields: Any) -> NotificationChannel:
    return ds.channel_create(actor=system, name=name, kind=kind, **fields)


def test_email_list_channel(run_one, system) -> None:
    _channel(system, "IT list", "email", recipients=["it@example.com", "sec@example.com"])
    execution = run_one("notify.channel", {"channel": "IT list", "title": "Offboarding", "text": "Ann left"})
    assert execution.status == "succeeded", execution.error
    (message,) = mail.outbox
    assert (message.to, message.subject, message.body) == (
        ["it@example.com", "sec@example.com"],
        "Offboarding",
        "Ann left",
    )
    assert step_of(execution).output == {
        "channel": "IT list",
        "kind": "email",
        "status": None,
        "recipients": ["it@example.com", "sec@example.com"],
        "message_id": message.extra_headers["Message-ID"],
    }


def test_slack_channel(run_one, system, tls_server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    hook = tls_server.url("/services/T000/B000/s3cr3tPathPart")
    _channel(system, "IT Slack", "slack", webhook_url=hook)
    tls_server.default = (200, {"Content-Type": "text/html"}, b"ok")
    execution = run_one(
        "notify.channel", {"channel": "IT Slack", "title": "New hire", "text": "Ann <!channel> & co joined"}
    )
    assert execution.status == "succeeded", execution.error
    (got,) = tls_server.received
    assert (got.method, got.path) == ("POST", "/services/T000/B000/s3cr3tPathPart")
    assert got.header("Content-Type") == "application/json"
    assert got.header("Idempotency-Key") == f"{execution.pk}:do[0].step:1"
    assert got.json() == {"text": "*New hire*\nAnn &lt;!channel&gt; &amp; co joined"}
    step = step_of(execution)
    assert step.output["status"] == 200 and step.output["kind"] == "slack"
    assert "s3cr3t" not in _stored(step)


def test_teams_channel_gets_an_adaptive_card(run_one, system, tls_server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "IT Teams", "teams", webhook_url=tls_server.url("/webhookb2/abc/IncomingWebhook/def"))
    execution = run_one("notify.channel", {"channel": "IT Teams", "title": "Laptop lost", "text": "mac-042"})
    assert execution.status == "succeeded", execution.error
    payload = tls_server.received[0].json()
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert [(b["type"], b["text"]) for b in card["body"]] == [("TextBlock", "Laptop lost"), ("TextBlock", "mac-042")]


def test_webhook_is_signed_as_the_readme_says(run_one, system, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "Intranet", "webhook", webhook_url=server.url("/hooks/keyflow"), signing_key="k3y-of-intranet")
    execution = run_one(
        "notify.channel",
        {"channel": "Intranet", "title": "Suspended", "text": "ann was suspended", "data": {"user": "ann"}},
    )
    assert execution.status == "succeeded", execution.error
    (got,) = server.received
    verify = readme_verifier()
    timestamp, signature = got.header("X-Keyflow-Timestamp"), got.header("X-Keyflow-Signature")
    assert abs(int(timestamp) - time.time()) < 60
    assert re.fullmatch(r"sha256=[0-9a-f]{64}", signature)
    assert verify(got.body, timestamp, signature, "k3y-of-intranet")
    assert not verify(got.body + b" ", timestamp, signature, "k3y-of-intranet")  # a changed body
    assert not verify(got.body, timestamp, signature, "another-key")
    assert not verify(got.body, str(int(timestamp) - 3600), signature, "k3y-of-intranet")  # old or moved
    assert got.header("Idempotency-Key") == f"{execution.pk}:do[0].step:1"
    body = got.json()
    assert {k: body[k] for k in ("type", "channel", "title", "text", "data", "execution_id")} == {
        "type": "keyflow.notification",
        "channel": "Intranet",
        "title": "Suspended",
        "text": "ann was suspended",
        "data": {"user": "ann"},
        "execution_id": execution.pk,
    }
    assert body["workflow"] == execution.workflow.name
    assert "k3y-of-intranet" not in _stored(step_of(execution))


def test_webhook_without_a_signing_key_is_sent_unsigned(run_one, system, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "Open", "webhook", webhook_url=server.url("/h"))
    assert run_one("notify.channel", {"channel": "Open", "text": "hi"}).status == "succeeded"
    assert server.received[0].header("X-Keyflow-Signature") is None
    assert server.received[0].header("X-Keyflow-Timestamp") is not None


RETRY = {"max_attempts": 3, "initial_delay": 0.01, "jitter": False}


def test_webhook_retried_after_503(run_one, system, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "Flaky", "webhook", webhook_url=server.url("/h"), signing_key="k")
    server.reply(503, b"busy")
    execution = run_one("notify.channel", {"channel": "Flaky", "text": "hi"}, retry=RETRY)
    assert execution.status == "succeeded", execution.error
    assert len(server.received) == 2
    assert step_of(execution).attempts == 2
    verify = readme_verifier()
    assert all(
        verify(r.body, r.header("X-Keyflow-Timestamp"), r.header("X-Keyflow-Signature"), "k") for r in server.received
    )
    # Each attempt is its own delivery as far as the receiver's de-duplication goes.
    assert [r.header("Idempotency-Key") for r in server.received] == [
        f"{execution.pk}:do[0].step:1",
        f"{execution.pk}:do[0].step:2",
    ]


def test_slack_429_waits_out_retry_after(run_one, system, tls_server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "Busy Slack", "slack", webhook_url=tls_server.url("/services/T/B/x"))
    tls_server.reply(429, b"rate_limited", {"Retry-After": "1"})
    execution = run_one("notify.channel", {"channel": "Busy Slack", "text": "hi"}, retry=RETRY)
    assert execution.status == "succeeded", execution.error
    first, second = tls_server.received
    assert second.at - first.at >= 1.0


def test_a_4xx_fails_at_once_and_names_no_secret(run_one, system, tls_server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "Gone", "slack", webhook_url=tls_server.url("/services/T/B/s3cr3tPathPart"))
    tls_server.reply(404, b"no_service s3cr3tPathPart")
    execution = run_one("notify.channel", {"channel": "Gone", "text": "hi"}, retry=RETRY)
    assert execution.status == "failed"
    step = step_of(execution)
    assert step.attempts == 1
    assert step.error == "Slack webhook of notification channel 'Gone': 404 Not Found: no_service ***"
    assert "s3cr3t" not in _stored(step)


def test_a_webhook_to_loopback_is_refused_unless_allow_listed(run_one, system, server: ScriptedServer, allow) -> None:
    _channel(system, "Local", "webhook", webhook_url=server.url("/s3cr3t-hook"))
    execution = run_one("notify.channel", {"channel": "Local", "text": "hi"}, retry=RETRY)
    assert execution.status == "failed"
    step = step_of(execution)
    assert step.attempts == 1  # a refusal is not retried
    assert step.error == (
        "webhook of notification channel 'Local': refused: 127.0.0.1 is 127.0.0.1, not a public address "
        "(an operator may allow the host in KEYFLOW_HTTP_ALLOWED_HOSTS)"
    )
    assert "s3cr3t" not in _stored(step)
    assert server.received == []


def test_a_disabled_channel_sends_nothing(run_one, system, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    _channel(system, "Off", "webhook", webhook_url=server.url("/h"), enabled=False)
    execution = run_one("notify.channel", {"channel": "Off", "text": "hi"})
    assert step_of(execution).error == "notification channel 'Off' is disabled"
    assert server.received == []


def test_channel_permission_at_save_and_at_run_time(make_workflow, run, administrator, system, server, allow) -> None:
    allow("127.0.0.1")
    task = {"n": {"call": "notify.channel", "with": {"channel": "{{ input.channel }}", "text": "hi"}}}
    # Command Runner holds no view_notificationchannel: the workflow cannot even be saved as it.
    with pytest.raises(WorkflowInvalid) as caught:
        make_workflow([task], role="command-runner")
    assert caught.value.problems[0].message == (
        "run-as role Command Runner lacks permission directory.view_notificationchannel needed by notify.channel"
    )

    # A custom role allowed one channel only (an object permission) may save, and is refused the other.
    allowed = _channel(system, "Allowed", "webhook", webhook_url=server.url("/allowed"))
    _channel(system, "Other", "webhook", webhook_url=server.url("/other"))
    scoped = role_create(name="One channel", based_on=None, actor=administrator)
    assign_perm("directory.view_notificationchannel", scoped.group, allowed)
    definition = {
        "dsl": "1.0",
        "trigger": {"type": "manual"},
        "input": {"schema": {"type": "object", "properties": {"channel": {"type": "string"}}}},
        "do": [task],
    }
    from workflows.services import workflow_create

    workflow = workflow_create(name="scoped", definition=definition, run_as=scoped, actor=administrator)
    assert run(workflow, {"channel": "Allowed"}).status == "succeeded"
    refused = run(workflow, {"channel": "Other"})
    assert refused.status == "failed"
    assert step_of(refused).error == "run-as role One channel may not notify channel Other"
    assert [r.path for r in server.received] == ["/allowed"]


# --- email settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "django.core.mail.backends.console.EmailBackend"),
        ({"EMAIL_HOST": "smtp.corp.example"}, "django.core.mail.backends.smtp.EmailBackend"),
        ({"EMAIL_HOST": "smtp.corp.example", "DJANGO_DEBUG": "1"}, "django.core.mail.backends.console.EmailBackend"),
        (
            {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
            "django.core.mail.backends.locmem.EmailBackend",
        ),
    ],
)
def test_email_settings_come_from_the_environment(monkeypatch, env, backend) -> None:
    import importlib

    import config.settings.base
    import config.settings.email

    for name in ("EMAIL_HOST", "EMAIL_BACKEND", "DJANGO_DEBUG", "EMAIL_PORT", "EMAIL_USE_TLS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {**env, "EMAIL_PORT": "587", "EMAIL_USE_TLS": "true"}.items():
        monkeypatch.setenv(name, value)
    try:
        importlib.reload(config.settings.base)
        module = importlib.reload(config.settings.email)
        chosen = {name: getattr(module, name) for name in ("EMAIL_BACKEND", "EMAIL_PORT", "EMAIL_USE_TLS")}
        assert chosen == {"EMAIL_BACKEND": backend, "EMAIL_PORT": 587, "EMAIL_USE_TLS": True}
    finally:
        monkeypatch.undo()
        importlib.reload(config.settings.base)
        importlib.reload(config.settings.email)


def test_a_malformed_email_setting_stops_start_up(monkeypatch) -> None:
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import config.settings.email

    monkeypatch.setenv("EMAIL_PORT", "smtp")
    try:
        with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT"):
            importlib.reload(config.settings.email)
    finally:
        monkeypatch.undo()
        importlib.reload(config.settings.email)
