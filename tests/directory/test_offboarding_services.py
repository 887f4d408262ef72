"""Services the offboarding actions need: reset MFA, set the manager, leave every group."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from directory import services
from directory.actors import Actor
from tests.directory.helpers import events_after, last_event_id

pytestmark = pytest.mark.django_db

BOB = Actor.system("bob")


def test_reset_mfa_clears_the_flag_and_writes_its_own_event(make_user):
    user = make_user("ann", mfa_enrolled=True)
    mark = last_event_id()
    user = services.user_reset_mfa(user=user, actor=BOB)
    user.refresh_from_db()
    assert user.mfa_enrolled is False
    [event] = events_after(mark)
    assert (event.type, event.actor_name) == ("user.mfa_reset", "bob")
    assert event.changes == [{"field": "mfa_enrolled", "from": True, "to": False}]

    services.user_reset_mfa(user=user, actor=BOB)  # already reset: nothing to record
    assert len(events_after(mark)) == 1


def test_set_manager_sets_clears_and_refuses_loops(make_user):
    ann, bob, cy = make_user("ann"), make_user("bob"), make_user("cy")
    services.user_set_manager(user=bob, manager=ann, actor=BOB)
    services.user_set_manager(user=cy, manager=bob, actor=BOB)
    cy.refresh_from_db()
    assert cy.manager_id == bob.pk

    mark = last_event_id()
    for user, manager in ((ann, cy), (ann, ann)):  # ann → cy → bob → ann; ann → ann
        with pytest.raises(ValidationError) as caught:
            services.user_set_manager(user=user, manager=manager, actor=BOB)
        assert "manager" in caught.value.message_dict
    ann.refresh_from_db()
    assert ann.manager_id is None and events_after(mark) == []

    services.user_set_manager(user=cy, manager=None, actor=BOB)
    cy.refresh_from_db()
    assert cy.manager_id is None
    [event] = events_after(mark)
    assert event.type == "user.updated" and event.changes == [{"field": "manager", "from": bob.pk, "to": None}]


def test_remove_from_all_groups_returns_the_groups_left(make_user):
    ann, bob = make_user("ann"), make_user("bob")
    groups = [services.group_create(actor=BOB, name=name) for name in ("Sales", "All staff", "VPN")]
    for group in groups:
        services.group_add_member(group=group, user=ann, actor=BOB)
    services.group_add_member(group=groups[0], user=bob, actor=BOB)
    mark = last_event_id()

    left = services.user_remove_from_all_groups(user=ann, actor=BOB)

    assert [g.name for g in left] == ["All staff", "Sales", "VPN"]
    assert list(ann.groups.all()) == []
    assert list(groups[0].members.all()) == [bob]
    events = events_after(mark)
    assert {(e.type, e.resource_name, e.related_name) for e in events} == {
        ("user_group.member_removed", name, ann.email) for name in ("All staff", "Sales", "VPN")
    }
    assert services.user_remove_from_all_groups(user=ann, actor=BOB) == []
