"""User groups: create, update, delete and membership, through services and the ORM."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from directory import services
from directory.models import UserGroup
from tests.directory.helpers import events_after, last_event_id, only_event

pytestmark = pytest.mark.django_db


def test_create_writes_created_with_snapshot(administrator):
    group = services.group_create(
        actor=administrator, name="Engineering", description="Builds things", attributes={"slack": "#eng"}
    )
    event = only_event()
    assert event.type == "user_group.created"
    assert (event.resource_type, event.resource_id, event.resource_name) == ("user_group", str(group.pk), "Engineering")
    assert event.snapshot == {
        "id": group.pk,
        "name": "Engineering",
        "description": "Builds things",
        "attributes": {"slack": "#eng"},
    }
    assert event.actor_name == administrator.username


def test_create_with_a_taken_name_is_a_field_error(system):
    services.group_create(actor=system, name="Sales")
    mark = last_event_id()
    with pytest.raises(ValidationError) as caught:
        services.group_create(actor=system, name="Sales")
    assert "name" in caught.value.message_dict
    assert events_after(mark) == []


def test_update_renames_without_an_event(system):
    """There is no ``user_group.updated`` type: a rename triggers nothing."""
    group = services.group_create(actor=system, name="Sales")
    mark = last_event_id()
    services.group_update(group=group, actor=system, name="Sales EMEA", description="Europe")
    group.refresh_from_db()
    assert (group.name, group.description) == ("Sales EMEA", "Europe")
    assert events_after(mark) == []


def test_delete_writes_deleted_and_keeps_the_members(make_user, system):
    user = make_user("ann")
    group = services.group_create(actor=system, name="Sales")
    services.group_add_member(group=group, user=user, actor=system)
    mark = last_event_id()

    services.group_delete(group=group, actor=system)

    assert not UserGroup.objects.filter(pk=group.pk).exists()
    user.refresh_from_db()  # still in the directory
    [event] = events_after(mark)
    assert event.type == "user_group.deleted"
    assert (event.resource_id, event.resource_name) == (str(group.pk), "Sales")
    assert event.snapshot["name"] == "Sales"


def test_add_member_writes_member_added(make_user, help_desk_admin, system):
    user = make_user("ann")
    group = services.group_create(actor=system, name="Sales")
    mark = last_event_id()

    assert services.group_add_member(group=group, user=user, actor=help_desk_admin) is True

    assert list(group.members.all()) == [user]
    [event] = events_after(mark)
    assert event.type == "user_group.member_added"
    assert (event.resource_type, event.resource_id, event.resource_name) == ("user_group", str(group.pk), "Sales")
    assert (event.related_type, event.related_id, event.related_name) == ("user", str(user.pk), "ann@example.com")
    assert event.changes == [{"field": "members", "from": None, "to": user.pk}]
    assert event.snapshot["group"]["name"] == "Sales"
    assert event.snapshot["user"]["username"] == "ann"
    assert (event.actor_type, event.actor_name) == ("admin", help_desk_admin.username)


def test_adding_an_existing_member_returns_false_and_writes_nothing(make_user, system):
    user = make_user("ann")
    group = services.group_create(actor=system, name="Sales")
    services.group_add_member(group=group, user=user, actor=system)
    mark = last_event_id()
    assert services.group_add_member(group=group, user=user, actor=system) is False
    assert events_after(mark) == []
    assert group.members.count() == 1


def test_remove_member_writes_member_removed(make_user, system):
    user = make_user("ann")
    group = services.group_create(actor=system, name="Sales")
    services.group_add_member(group=group, user=user, actor=system)
    mark = last_event_id()

    assert services.group_remove_member(group=group, user=user, actor=system) is True

    assert group.members.count() == 0
    [event] = events_after(mark)
    assert event.type == "user_group.member_removed"
    assert event.changes == [{"field": "members", "from": user.pk, "to": None}]
    assert (event.related_type, event.related_id) == ("user", str(user.pk))


def test_removing_a_non_member_returns_false_and_writes_nothing(make_user, system):
    user = make_user("ann")
    group = services.group_create(actor=system, name="Sales")
    mark = last_event_id()
    assert services.group_remove_member(group=group, user=user, actor=system) is False
    assert events_after(mark) == []


def test_membership_edited_from_the_user_side_writes_the_same_events(make_user, system):
    """``user.groups.add/remove`` (the reverse side, as the API may use) is covered too."""
    user = make_user("ann")
    sales = services.group_create(actor=system, name="Sales")
    vpn = services.group_create(actor=system, name="VPN Users")
    mark = last_event_id()

    user.groups.add(sales, vpn)
    user.groups.remove(vpn)

    got = [(e.type, e.resource_name, e.related_name) for e in events_after(mark)]
    assert sorted(got[:2]) == [
        ("user_group.member_added", "Sales", "ann@example.com"),
        ("user_group.member_added", "VPN Users", "ann@example.com"),
    ]
    assert got[2:] == [("user_group.member_removed", "VPN Users", "ann@example.com")]


@pytest.mark.parametrize("side", ["group", "user"])
def test_clearing_membership_writes_one_removed_event_per_member(make_user, system, side):
    ann, bo = make_user("ann"), make_user("bo")
    group = services.group_create(actor=system, name="Sales")
    for user in (ann, bo):
        services.group_add_member(group=group, user=user, actor=system)
    mark = last_event_id()

    if side == "group":
        group.members.clear()
        expected = {("Sales", "ann@example.com"), ("Sales", "bo@example.com")}
    else:
        ann.groups.clear()
        expected = {("Sales", "ann@example.com")}

    removed = events_after(mark)
    assert {e.type for e in removed} == {"user_group.member_removed"}
    assert {(e.resource_name, e.related_name) for e in removed} == expected


def test_set_membership_writes_only_the_difference(make_user, system):
    ann, bo, cy = make_user("ann"), make_user("bo"), make_user("cy")
    group = services.group_create(actor=system, name="Sales")
    group.members.set([ann, bo])
    mark = last_event_id()

    group.members.set([bo, cy])

    assert sorted((e.type, e.related_name) for e in events_after(mark)) == [
        ("user_group.member_added", "cy@example.com"),
        ("user_group.member_removed", "ann@example.com"),
    ]
