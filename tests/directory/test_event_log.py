"""The event log itself: the registry, actors, rollback, and notification on commit."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction

from directory import services
from directory.actors import Actor, acting_as
from directory.event_log import PendingEvent, events_committed, record_events
from directory.event_types import EVENT_TYPES
from directory.models import DirectoryEvent, User, UserGroup
from tests.directory.helpers import events_after, last_event_id

pytestmark = pytest.mark.django_db

ISSUE_EVENT_TYPES = {
    "user.created",
    "user.updated",
    "user.activated",
    "user.suspended",
    "user.deleted",
    "user.locked",
    "user.unlocked",
    "user.password_expired",
    "user_group.created",
    "user_group.deleted",
    "user_group.member_added",
    "user_group.member_removed",
    "device.created",
    "device.updated",
    "device.deleted",
    "device_group.member_added",
    "device_group.member_removed",
    "policy.bound",
    "policy.unbound",
    "command.finished",
    # issue 22: who gave whom which access
    "admin_role.created",
    "admin_role.updated",
    "admin_role.permission_granted",
    "admin_role.permission_revoked",
    "admin_role.scope_added",
    "admin_role.scope_removed",
    "admin_role.deleted",
    "admin_account.created",
    "admin_account.updated",
    "admin_account.role_changed",
    "admin_account.password_changed",
    "admin_account.deleted",
    # issue 18: MFA reset, device agents
    "user.mfa_reset",
    "device.agent_enrolment_created",
    "device.agent_enrolled",
    "device.agent_revoked",
}


def test_registry_holds_exactly_the_catalogue_with_descriptions():
    assert set(EVENT_TYPES) == ISSUE_EVENT_TYPES
    for key, event_type in EVENT_TYPES.items():
        assert event_type.description.endswith("."), key
        assert key.startswith(event_type.resource_type.replace("command_run", "command")), key


def test_an_unregistered_type_is_refused():
    with pytest.raises(KeyError, match=r"user\.teleported"):
        record_events([PendingEvent("user.teleported", "user", resource_id=1)])
    assert not DirectoryEvent.objects.exists()


# --- actors ----------------------------------------------------------------------------------


def test_execution_actor_records_cause_and_depth(make_user):
    user = make_user("ann")
    mark = last_event_id()
    actor = Actor.for_execution(execution_id=42, workflow_name="Offboarding", depth=2)

    services.user_suspend(user=user, actor=actor)

    [event] = events_after(mark)
    assert (event.actor_type, event.actor_id, event.actor_name) == ("execution", "42", "Offboarding")
    assert (event.caused_by_execution_id, event.depth) == (42, 2)
    assert event.actor == {"type": "execution", "id": "42", "name": "Offboarding"}


def test_api_token_actor(make_user, administrator):
    user = make_user("ann")
    mark = last_event_id()
    services.user_lock(user=user, actor=Actor.for_admin(administrator, via_token=True))
    [event] = events_after(mark)
    assert (event.actor_type, event.actor_id, event.actor_name) == (
        "api_token",
        str(administrator.pk),
        administrator.username,
    )


def test_no_actor_means_the_system_or_the_surrounding_one(administrator):
    services.user_create(actor=None, username="ann", email="ann@example.com")
    with acting_as(administrator):  # what ActorMiddleware does for a request
        services.user_create(actor=None, username="bo", email="bo@example.com")
    first, second = DirectoryEvent.objects.order_by("id")
    assert (first.actor_type, first.actor_name) == ("system", "system")
    assert (second.actor_type, second.actor_name) == ("admin", administrator.username)


def test_the_actor_does_not_leak_past_the_service(administrator):
    services.user_create(actor=administrator, username="ann", email="ann@example.com")
    User.objects.create(username="raw", email="raw@example.com")  # a write outside any service
    assert DirectoryEvent.objects.order_by("id").last().actor_type == "system"


def test_an_unknown_actor_kind_is_a_type_error():
    with pytest.raises(TypeError):
        services.user_create(actor="somebody", username="ann", email="ann@example.com")
    assert not User.objects.exists()


# --- rollback --------------------------------------------------------------------------------


def test_a_transaction_that_fails_after_a_service_leaves_no_change_and_no_event(make_user, system):
    user = make_user("ann", state="active")
    group = services.group_create(actor=system, name="Sales")
    mark = last_event_id()

    with pytest.raises(RuntimeError), transaction.atomic():
        services.user_suspend(user=user, actor=system)
        services.group_add_member(group=group, user=user, actor=system)
        services.user_create(actor=system, username="bo", email="bo@example.com")
        raise RuntimeError("the caller fails after the services succeeded")

    assert User.objects.get(pk=user.pk).state == "active"
    assert not UserGroup.objects.get(pk=group.pk).members.exists()
    assert not User.objects.filter(username="bo").exists()
    assert events_after(mark) == []


def test_a_failing_service_leaves_no_event(make_user, system):
    user = make_user("ann", state="active")
    mark = last_event_id()
    with pytest.raises(ValidationError):
        # job_title is valid, state is not: nothing of the call may stick.
        services.user_update(user=user, actor=system, job_title="Lead", state="staged")
    user.refresh_from_db()
    assert (user.state, user.job_title) == ("active", "")
    assert events_after(mark) == []


@pytest.fixture
def announced(monkeypatch):
    """``announced(check)``: only event types ``check`` accepts are listened to; returns the list of
    the id lists announced on commit (``events_committed``) while the test runs."""
    from directory import event_log

    heard: list[list[int]] = []

    def listener(sender: object, event_ids: list[int], **kwargs: object) -> None:
        heard.append(event_ids)

    def listen(check) -> list[list[int]]:
        monkeypatch.setattr(event_log, "_listener_check", check)
        return heard

    events_committed.connect(listener)
    yield listen
    events_committed.disconnect(listener)


def test_listeners_hear_about_committed_events_only(django_capture_on_commit_callbacks, system, announced):
    heard = announced(lambda event_type: True)
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            services.user_create(actor=system, username="gone", email="gone@example.com")
            raise RuntimeError
        user = services.user_create(actor=system, username="ann", email="ann@example.com")

    created = DirectoryEvent.objects.get(type="user.created", resource_id=str(user.pk))
    assert heard == [[created.pk]]


def test_one_save_changing_state_lock_and_attributes_writes_each_meaning_once(make_user, system):
    """The documented rule: specific events carry only their field, ``user.updated`` the rest."""
    user = make_user("ann", state="active")
    mark = last_event_id()

    services.user_update(user=user, actor=system, state="suspended", account_locked=True, job_title="Former AE")

    assert [(e.type, e.changes) for e in events_after(mark)] == [
        ("user.suspended", [{"field": "state", "from": "active", "to": "suspended"}]),
        ("user.locked", [{"field": "account_locked", "from": False, "to": True}]),
        ("user.updated", [{"field": "job_title", "from": "", "to": "Former AE"}]),
    ]
    snapshots = {e.type: e.snapshot for e in events_after(mark)}
    assert {s["state"] for s in snapshots.values()} == {"suspended"}  # each carries the final picture


def test_events_nobody_listens_to_are_written_dispatched_and_announce_nothing(
    django_capture_on_commit_callbacks, system, announced
):
    heard = announced(lambda event_type: event_type == "user.created")
    with django_capture_on_commit_callbacks(execute=True):
        user = services.user_create(actor=system, username="ann", email="ann@example.com")
        services.user_update(user=user, actor=system, job_title="AE")

    created = DirectoryEvent.objects.get(type="user.created")
    updated = DirectoryEvent.objects.get(type="user.updated")
    assert heard == [[created.pk]]
    assert created.dispatched_at is None and updated.dispatched_at is not None


def _stored(event: DirectoryEvent) -> dict[str, object]:
    return {f.attname: getattr(event, f.attname) for f in DirectoryEvent._meta.concrete_fields if not f.primary_key}


def test_an_event_nobody_listens_to_is_stored_as_the_orm_stores_one(make_user, announced):
    """Written out, not through ``bulk_create``: every field reads back as the ORM would have written it."""
    announced(lambda event_type: False)
    user = make_user("ann")
    actor = Actor.for_execution(execution_id=42, workflow_name="Onboarding — ü", depth=3)
    changes = [{"field": "attributes", "from": {"a": [1, None]}, "to": {"a": "ß", "api_token": "secret"}}]
    with acting_as(actor), transaction.atomic():
        [written] = record_events([PendingEvent("user.updated", "user", user, changes=changes, snapshot={"n": 1.5})])
    stored = DirectoryEvent.objects.get(type="user.updated", resource_id=str(user.pk))
    assert written.pk is None  # nothing reads its id back
    assert stored.dispatched_at == stored.occurred_at == written.occurred_at
    assert stored.changes[0]["to"] == {"a": "ß", "api_token": "***"}
    # The same event through the ORM reads back identical, field for field.
    written.dispatched_at = written.occurred_at
    [through_orm] = DirectoryEvent.objects.bulk_create([DirectoryEvent(**_stored(written))])
    assert _stored(DirectoryEvent.objects.get(pk=through_orm.pk)) == _stored(stored)


def test_heard_and_unheard_events_keep_their_order_and_only_heard_ones_are_announced(
    django_capture_on_commit_callbacks, make_user, announced
):
    heard = announced(lambda event_type: event_type == "user.locked")
    user = make_user("ann")
    types = ["user.updated", "user.locked", "user.updated", "user.updated", "user.locked"]
    mark = last_event_id()
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        record_events([PendingEvent(t, "user", user) for t in types])
    written = list(DirectoryEvent.objects.filter(pk__gt=mark).order_by("id"))
    assert [e.type for e in written] == types
    assert heard == [[e.pk for e in written if e.type == "user.locked"]]
    assert [e.dispatched_at is None for e in written] == [False, True, False, False, True]
