"""One redaction rule for the API, the admin, events and logs (issue 17): the rule, and events.

Before, the admin's execution page showed a run's ``password``/``token``/``api_key`` input in
clear, and a secret written into a user's ``attributes`` was copied in clear into the directory
events' ``changes`` and ``snapshot``, readable through the events API by every admin who may
view events.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from directory import services
from directory.models import DirectoryEvent, User
from directory.redaction import REDACTED, is_secret_key, redact, redact_changes, restore_redacted
from executions.recording import redact as recording_redact

SECRET = "s3cret-value-7f2a"


# --- the rule ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["password", "db_pass", "api_key", "API-Key", "token", "github_token", "client_secret", "Authorization"]
)
def test_secret_looking_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize("key", ["user", "email", "department", "id", 3, None])
def test_ordinary_keys(key: Any) -> None:
    assert not is_secret_key(key)


def test_redact_hides_secret_values_at_any_depth_and_keeps_the_rest() -> None:
    value = {"user": "ann", "auth": {"api_key": SECRET, "scheme": "x"}, "list": [{"password": SECRET}, 1]}
    assert redact(value) == {
        "user": "ann",
        "auth": {"api_key": REDACTED, "scheme": "x"},
        "list": [{"password": REDACTED}, 1],
    }
    assert value["auth"]["api_key"] == SECRET  # a copy: the stored value is untouched


def test_redact_keeps_flags_and_empty_values() -> None:
    value = {"password_expired": True, "token": None, "secret": "", "has_secret": False}
    assert redact(value) is value  # nothing to hide: no copy


def test_redact_does_not_recurse() -> None:
    deep: Any = {"password": SECRET}
    for _ in range(5000):
        deep = [deep]
    redacted = redact(deep)
    for _ in range(5000):
        redacted = redacted[0]
    assert redacted == {"password": REDACTED}


def test_the_runner_s_redaction_is_the_same_rule() -> None:
    assert recording_redact({"token": SECRET, "api_key": SECRET}) == {"token": REDACTED, "api_key": REDACTED}
    assert recording_redact({"password_expired": True}) == {"password_expired": True}


def test_changes_of_a_secret_field_and_of_secret_keys_in_an_object() -> None:
    changes = [
        {"field": "api_token", "from": "old", "to": SECRET},
        {"field": "attributes", "from": {"team": "a"}, "to": {"team": "a", "vpn_password": SECRET}},
        {"field": "password_expired", "from": False, "to": True},
    ]
    assert redact_changes(changes) == [
        {"field": "api_token", "from": REDACTED, "to": REDACTED},
        {"field": "attributes", "from": {"team": "a"}, "to": {"team": "a", "vpn_password": REDACTED}},
        {"field": "password_expired", "from": False, "to": True},
    ]


def test_restore_puts_stored_values_back_under_placeholders() -> None:
    stored = {"api_token": SECRET, "team": "a"}
    assert restore_redacted({"api_token": REDACTED, "team": "b"}, stored) == {"api_token": SECRET, "team": "b"}
    assert restore_redacted({"api_token": "new"}, stored) == {"api_token": "new"}
    assert restore_redacted({"other_token": REDACTED}, stored) == {}
    assert restore_redacted({"note": REDACTED}, stored) == {"note": REDACTED}  # not a secret key: literal text


# --- events ---------------------------------------------------------------------------------------------


def _events_text(user: User) -> str:
    events = DirectoryEvent.objects.filter(resource_type="user", resource_id=str(user.pk))
    return json.dumps([[e.changes, e.snapshot] for e in events])


@pytest.mark.django_db
def test_secret_attributes_are_not_copied_into_events(administrator: Any) -> None:
    user = services.user_create(actor=administrator, username="ann", email="ann@example.com")
    services.user_update(user=user, actor=administrator, attributes={"api_token": SECRET, "team": "Blue"})
    group = services.group_create(actor=administrator, name="VPN")
    services.group_add_member(group=group, user=user, actor=administrator)
    text = json.dumps([[e.changes, e.snapshot] for e in DirectoryEvent.objects.all()])
    assert SECRET not in text
    assert REDACTED in _events_text(user)
    assert "Blue" in _events_text(user)
    user.refresh_from_db()
    assert user.attributes["api_token"] == SECRET  # the directory keeps the value; only the log hides it


@pytest.mark.django_db
def test_a_secret_set_at_creation_is_not_in_the_created_event(administrator: Any) -> None:
    user = services.user_create(
        actor=administrator, username="bo", email="bo@example.com", attributes={"pin_secret": SECRET}
    )
    assert SECRET not in _events_text(user)


@pytest.mark.django_db
def test_a_changed_secret_still_makes_an_event(administrator: Any) -> None:
    user = services.user_create(actor=administrator, username="cy", email="cy@example.com", attributes={"token": "a"})
    before = DirectoryEvent.objects.count()
    services.user_update(user=user, actor=administrator, attributes={"token": "b"})
    assert DirectoryEvent.objects.count() == before + 1
