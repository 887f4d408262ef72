"""Notification channels: validation, and secrets encrypted at rest and never shown back."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from directory import services
from directory.models import NotificationChannel

pytestmark = pytest.mark.django_db

SLACK_URL = "https://hooks.slack.com/services/T0KEYFLOW/B0KEYFLOW/s3cr3tS3cr3tS3cr3t"
TEAMS_URL = "https://example.webhook.office.com/webhookb2/0000-keyflow/IncomingWebhook/abc123/def456"


def _raw(channel: NotificationChannel, column: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM directory_notificationchannel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def slack(system) -> NotificationChannel:
    return services.channel_create(
        actor=system, name="IT Slack", kind="slack", webhook_url=SLACK_URL, signing_key="sign-me-please"
    )


# --- validation ------------------------------------------------------------------------------


def test_email_channel_keeps_its_recipients(system):
    channel = services.channel_create(actor=system, name="IT", kind="email", recipients=["it@example.com"])
    assert NotificationChannel.objects.get(pk=channel.pk).recipients == ["it@example.com"]
    assert _raw(channel, "webhook_url") == ""  # no secret: nothing stored


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"kind": "email", "recipients": []}, "recipients"),
        ({"kind": "email"}, "recipients"),
        ({"kind": "email", "recipients": ["it@example.com", "not an address"]}, "recipients"),
        ({"kind": "email", "recipients": "it@example.com"}, "recipients"),  # a string is not a list
        ({"kind": "slack"}, "webhook_url"),
        ({"kind": "slack", "webhook_url": "hooks.slack.com/services/x"}, "webhook_url"),
        ({"kind": "slack", "webhook_url": "http://hooks.slack.com/services/x"}, "webhook_url"),  # https only
        ({"kind": "teams", "webhook_url": "javascript:alert(1)"}, "webhook_url"),
        ({"kind": "pager"}, "kind"),
    ],
)
def test_invalid_channels_are_field_errors(system, fields, bad_field):
    with pytest.raises(ValidationError) as caught:
        services.channel_create(actor=system, name="Bad", **fields)
    assert bad_field in caught.value.message_dict
    assert not NotificationChannel.objects.exists()


def test_generic_webhook_may_use_http(system):
    """An internal receiver without TLS is the operator's call; chat webhooks are always https."""
    channel = services.channel_create(actor=system, name="Intranet", kind="webhook", webhook_url="http://hooks.lan/x")
    assert NotificationChannel.objects.get(pk=channel.pk).webhook_url == "http://hooks.lan/x"


# --- encryption at rest ----------------------------------------------------------------------


def test_secrets_are_encrypted_in_the_database_and_decrypted_on_load(slack):
    for column, plaintext in (("webhook_url", SLACK_URL), ("signing_key", "sign-me-please")):
        stored = _raw(slack, column)
        assert stored.startswith("fernet:")
        assert plaintext not in stored
        assert "s3cr3t" not in stored
    loaded = NotificationChannel.objects.get(pk=slack.pk)
    assert (loaded.webhook_url, loaded.signing_key) == (SLACK_URL, "sign-me-please")
    assert loaded.has_webhook_url and loaded.has_signing_key


def test_update_without_a_secret_keeps_the_stored_one(slack, system):
    before = _raw(slack, "webhook_url")
    services.channel_update(channel=slack, actor=system, description="Alerts", webhook_url=None)
    loaded = NotificationChannel.objects.get(pk=slack.pk)
    assert (loaded.description, loaded.webhook_url) == ("Alerts", SLACK_URL)
    assert _raw(slack, "webhook_url").startswith("fernet:")
    assert before.startswith("fernet:")


def test_update_replaces_a_secret(slack, system):
    services.channel_update(channel=slack, actor=system, webhook_url=SLACK_URL + "-rotated")
    assert NotificationChannel.objects.get(pk=slack.pk).webhook_url == SLACK_URL + "-rotated"


def test_update_cannot_remove_the_url_a_webhook_channel_needs(slack, system):
    with pytest.raises(ValidationError) as caught:
        services.channel_update(channel=slack, actor=system, webhook_url="")
    assert "webhook_url" in caught.value.message_dict
    assert NotificationChannel.objects.get(pk=slack.pk).webhook_url == SLACK_URL


def test_explicit_key_is_used_and_a_wrong_key_is_a_clear_error(system):
    with override_settings(KEYFLOW_SECRETS_KEY=Fernet.generate_key().decode()):
        channel = services.channel_create(actor=system, name="Teams", kind="teams", webhook_url=TEAMS_URL)
        assert NotificationChannel.objects.get(pk=channel.pk).webhook_url == TEAMS_URL
    with (
        override_settings(KEYFLOW_SECRETS_KEY=Fernet.generate_key().decode()),
        pytest.raises(ValueError, match="cannot be decrypted with the configured key"),
    ):
        NotificationChannel.objects.get(pk=channel.pk)


def test_a_malformed_key_is_a_configuration_error(system):
    with (
        override_settings(KEYFLOW_SECRETS_KEY="too-short"),
        pytest.raises(ImproperlyConfigured, match="KEYFLOW_SECRETS_KEY"),
    ):
        services.channel_create(actor=system, name="Teams", kind="teams", webhook_url=TEAMS_URL)


def test_an_unencrypted_value_in_the_column_is_refused_not_returned(slack):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE directory_notificationchannel SET webhook_url = %s WHERE id = %s", [SLACK_URL, slack.pk])
    with pytest.raises(ValueError, match="not encrypted"):
        NotificationChannel.objects.get(pk=slack.pk)


# --- the admin never shows a secret ----------------------------------------------------------


def _change_url(channel: NotificationChannel) -> str:
    return reverse("admin:directory_notificationchannel_change", args=[channel.pk])


def _post_data(channel: NotificationChannel, **overrides: str) -> dict[str, str]:
    data = {
        "name": channel.name,
        "kind": channel.kind,
        "description": channel.description,
        "recipients": "[]",
        "webhook_url": "",
        "signing_key": "",
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_change_form_does_not_render_secrets(client, billing_admin, slack):
    client.force_login(billing_admin)
    response = client.get(_change_url(slack))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="webhook_url"' in html and 'type="password"' in html
    assert "s3cr3t" not in html and "hooks.slack.com" not in html and "sign-me-please" not in html
    assert "fernet:" not in html


def test_change_form_blank_secret_keeps_it_and_a_new_one_replaces_it(client, billing_admin, slack):
    client.force_login(billing_admin)

    response = client.post(_change_url(slack), _post_data(slack, description="Alerts"))
    assert response.status_code == 302, response.content.decode()[:2000]
    loaded = NotificationChannel.objects.get(pk=slack.pk)
    assert (loaded.description, loaded.webhook_url, loaded.signing_key) == ("Alerts", SLACK_URL, "sign-me-please")

    response = client.post(_change_url(slack), _post_data(slack, webhook_url=SLACK_URL + "-new"))
    assert response.status_code == 302
    assert NotificationChannel.objects.get(pk=slack.pk).webhook_url == SLACK_URL + "-new"


def test_add_form_shows_channel_rule_errors_instead_of_failing(client, billing_admin):
    client.force_login(billing_admin)
    response = client.post(
        reverse("admin:directory_notificationchannel_add"),
        {"name": "IT", "kind": "email", "recipients": "[]", "description": "", "webhook_url": "", "signing_key": ""},
    )
    assert response.status_code == 200
    assert "An email channel needs at least one address." in response.content.decode()
    assert not NotificationChannel.objects.exists()


def test_add_form_stores_the_webhook_encrypted(client, billing_admin):
    client.force_login(billing_admin)
    response = client.post(
        reverse("admin:directory_notificationchannel_add"),
        {
            "name": "Teams",
            "kind": "teams",
            "recipients": "[]",
            "description": "",
            "webhook_url": TEAMS_URL,
            "signing_key": "",
        },
    )
    assert response.status_code == 302
    channel = NotificationChannel.objects.get(name="Teams")
    assert channel.webhook_url == TEAMS_URL
    assert _raw(channel, "webhook_url").startswith("fernet:")
