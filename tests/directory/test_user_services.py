"""User services: the state they leave and the events they write (with exact ``changes``)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import services
from directory.actors import Actor
from directory.models import DirectoryEvent, User, UserGroup
from tests.directory.helpers import event_types, events_after, last_event_id, only_event

pytestmark = pytest.mark.django_db


# --- user_create -----------------------------------------------------------------------------


def test_create_writes_created_with_actor_resource_and_snapshot(administrator):
    user = services.user_create(
        actor=administrator,
        username="ann",
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        department="Sales",
        hire_date="2024-03-01",
        attributes={"cost_center": "S-100"},
    )

    user.refresh_from_db()
    assert user.state == "staged"  # the default: a new hire is staged until activated
    assert user.hire_date == dt.date(2024, 3, 1)
    event = only_event()
    assert event.type == "user.created"
    assert (event.resource_type, event.resource_id, event.resource_name) == ("user", str(user.pk), "ann@example.com")
    assert (event.actor_type, event.actor_id, event.actor_name) == ("admin", str(administrator.pk), "admin-ada")
    assert event.changes == []
    assert (event.related_type, event.related_id, event.related_name) == ("", "", "")
    # Nothing listens to user.created here, so the event is written already dispatched.
    assert (event.caused_by_execution_id, event.depth) == (None, 0)
    assert event.dispatched_at is not None
    assert event.snapshot["id"] == user.pk
    assert event.snapshot["username"] == "ann"
    assert event.snapshot["state"] == "staged"
    assert event.snapshot["department"] == "Sales"
    assert event.snapshot["hire_date"] == "2024-03-01"
    assert event.snapshot["manager"] is None
    assert event.snapshot["attributes"] == {"cost_center": "S-100"}
    assert "created_at" not in event.snapshot and "updated_at" not in event.snapshot


def test_create_in_a_given_state_writes_only_created(system):
    services.user_create(actor=system, username="cy", email="cy@example.com", state="active")
    assert event_types() == ["user.created"]
    assert only_event().snapshot["state"] == "active"


def test_create_with_duplicate_email_is_a_field_error_and_writes_nothing(make_user, system):
    make_user("ann", email="ann@example.com")
    mark = last_event_id()
    with pytest.raises(ValidationError) as caught:
        services.user_create(actor=system, username="ann2", email="ann@example.com")
    assert "email" in caught.value.message_dict
    assert events_after(mark) == []
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"state": "retired"}, "state"),
        ({"employee_type": "wizard"}, "employee_type"),
        ({"created_at": "2020-01-01"}, "created_at"),  # bookkeeping is not settable
        ({"favourite_colour": "blue"}, "favourite_colour"),  # nor are unknown fields
    ],
)
def test_create_rejects_bad_input_naming_the_field(system, fields, bad_field):
    with pytest.raises(ValidationError) as caught:
        services.user_create(actor=system, **{"username": "dee", "email": "dee@example.com", **fields})
    assert bad_field in caught.value.message_dict
    assert not DirectoryEvent.objects.exists()


# --- user_update -----------------------------------------------------------------------------


def test_update_lists_each_changed_field_in_model_order(make_user, administrator):
    user = make_user("bo", department="Sales", job_title="AE")
    mark = last_event_id()

    services.user_update(user=user, actor=administrator, job_title="Senior AE", department="Marketing", location="")

    user.refresh_from_db()
    assert (user.department, user.job_title) == ("Marketing", "Senior AE")
    [event] = events_after(mark)
    assert event.type == "user.updated"
    assert event.changes == [
        {"field": "department", "from": "Sales", "to": "Marketing"},
        {"field": "job_title", "from": "AE", "to": "Senior AE"},
    ]  # location was already "": not a change
    assert event.snapshot["job_title"] == "Senior AE"
    assert event.actor_name == administrator.username


def test_update_with_unchanged_values_writes_no_event(make_user, system):
    user = make_user("bo", department="Sales")
    mark = last_event_id()
    services.user_update(user=user, actor=system, department="Sales")
    assert events_after(mark) == []


def test_update_patches_custom_attributes_key_by_key(make_user, system):
    user = make_user("bo", attributes={"badge": "B-1", "shirt": "M"})
    mark = last_event_id()

    services.user_update(user=user, actor=system, attributes={"shirt": None, "laptop": "mbp-14"})

    user.refresh_from_db()
    assert user.attributes == {"badge": "B-1", "laptop": "mbp-14"}
    [event] = events_after(mark)
    assert event.changes == [
        {"field": "attributes", "from": {"badge": "B-1", "shirt": "M"}, "to": {"badge": "B-1", "laptop": "mbp-14"}}
    ]


def test_update_rejects_attributes_that_are_not_an_object(make_user, system):
    user = make_user("bo")
    with pytest.raises(ValidationError) as caught:
        services.user_update(user=user, actor=system, attributes=["not", "a", "dict"])
    assert "attributes" in caught.value.message_dict


def test_update_sets_and_clears_the_manager_by_id(make_user, system):
    boss, user = make_user("boss"), make_user("bo")
    mark = last_event_id()

    services.user_update(user=user, actor=system, manager=boss.pk)
    services.user_update(user=user, actor=system, manager="")  # "" (a blank form or template) clears

    user.refresh_from_db()
    assert user.manager is None
    assert [e.changes for e in events_after(mark)] == [
        [{"field": "manager", "from": None, "to": boss.pk}],
        [{"field": "manager", "from": boss.pk, "to": None}],
    ]


def test_update_refuses_a_user_as_their_own_manager(make_user, system):
    user = make_user("bo")
    with pytest.raises(ValidationError) as caught:
        services.user_update(user=user, actor=system, manager=user)
    assert "manager" in caught.value.message_dict


def test_update_to_a_taken_email_is_a_field_error(make_user, system):
    make_user("ann", email="ann@example.com")
    user = make_user("bo")
    mark = last_event_id()
    with pytest.raises(ValidationError) as caught:
        services.user_update(user=user, actor=system, email="ann@example.com")
    assert "email" in caught.value.message_dict
    assert events_after(mark) == []


def test_an_in_place_change_to_a_json_field_is_still_an_event(make_user, system):
    """The remembered "before" values must be copies, or mutating the loaded dict hides the change."""
    user = make_user("bo", attributes={"badge": "B-1"})
    mark = last_event_id()
    user = User.objects.get(pk=user.pk)
    user.attributes["badge"] = "B-2"
    user.save()
    [event] = events_after(mark)
    assert event.changes == [{"field": "attributes", "from": {"badge": "B-1"}, "to": {"badge": "B-2"}}]


# --- state changes ---------------------------------------------------------------------------


def test_activate_a_staged_user(make_user, manager_admin):
    user = make_user("bo")
    mark = last_event_id()

    result = services.user_activate(user=user, actor=manager_admin)

    assert result.state == "active"
    assert User.objects.get(pk=user.pk).state == "active"
    [event] = events_after(mark)
    assert event.type == "user.activated"
    assert event.changes == [{"field": "state", "from": "staged", "to": "active"}]
    assert event.snapshot["state"] == "active"
    assert (event.actor_type, event.actor_name) == ("admin", "admin-max")


def test_suspend_then_reactivate(make_user, system):
    user = make_user("bo", state="active")
    mark = last_event_id()

    services.user_suspend(user=user, actor=system)
    services.user_activate(user=user, actor=system)

    assert [(e.type, e.changes) for e in events_after(mark)] == [
        ("user.suspended", [{"field": "state", "from": "active", "to": "suspended"}]),
        ("user.activated", [{"field": "state", "from": "suspended", "to": "active"}]),
    ]


def test_a_staged_user_may_be_suspended(make_user, system):
    user = make_user("bo")
    services.user_suspend(user=user, actor=system)
    assert User.objects.get(pk=user.pk).state == "suspended"


@pytest.mark.parametrize(("service", "state"), [("user_activate", "active"), ("user_suspend", "suspended")])
def test_state_service_on_a_user_already_in_that_state_writes_nothing(make_user, system, service, state):
    user = make_user("bo", state=state)
    mark = last_event_id()
    result = getattr(services, service)(user=user, actor=system)
    assert result.state == state
    assert events_after(mark) == []


@pytest.mark.parametrize("start", ["active", "suspended"])
def test_no_user_goes_back_to_staged(make_user, system, start):
    user = make_user("bo", state=start)
    mark = last_event_id()
    with pytest.raises(ValidationError) as caught:
        services.user_update(user=user, actor=system, state="staged")
    assert "state" in caught.value.message_dict
    assert User.objects.get(pk=user.pk).state == start
    assert events_after(mark) == []


def test_state_service_works_from_a_stale_instance(make_user, system):
    """Services re-read the row, so a stale object cannot skip a transition check or an event."""
    user = make_user("bo", state="active")
    stale = User.objects.get(pk=user.pk)
    services.user_suspend(user=user, actor=system)
    mark = last_event_id()
    services.user_suspend(user=stale, actor=system)  # stale says active; the row says suspended
    assert events_after(mark) == []


# --- lock, unlock, password expiry ------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "event_type", "field", "before", "after"),
    [
        ("user_lock", "user.locked", "account_locked", False, True),
        ("user_unlock", "user.unlocked", "account_locked", True, False),
        ("user_expire_password", "user.password_expired", "password_expired", False, True),
    ],
)
def test_flag_services_write_their_own_event(make_user, help_desk_admin, service, event_type, field, before, after):
    user = make_user("bo", state="active", **{field: before})
    mark = last_event_id()

    getattr(services, service)(user=user, actor=help_desk_admin)

    assert getattr(User.objects.get(pk=user.pk), field) is after
    [event] = events_after(mark)
    assert event.type == event_type
    assert event.changes == [{"field": field, "from": before, "to": after}]
    assert event.actor_name == help_desk_admin.username

    getattr(services, service)(user=user, actor=help_desk_admin)  # again: nothing to do
    assert len(events_after(mark)) == 1


def test_clearing_password_expiry_is_an_ordinary_update(make_user, system):
    """There is no "password renewed" event: clearing the flag is a plain attribute change."""
    user = make_user("bo", password_expired=True)
    mark = last_event_id()
    services.user_update(user=user, actor=system, password_expired=False)
    [event] = events_after(mark)
    assert (event.type, event.changes) == (
        "user.updated",
        [{"field": "password_expired", "from": True, "to": False}],
    )


# --- delete ----------------------------------------------------------------------------------


def test_delete_writes_deleted_that_outlives_the_user(make_user, administrator):
    user = make_user("bo", department="Finance", job_title="Controller")
    pk = user.pk
    mark = last_event_id()

    services.user_delete(user=user, actor=administrator)

    assert not User.objects.filter(pk=pk).exists()
    [event] = events_after(mark)
    assert event.type == "user.deleted"
    assert (event.resource_type, event.resource_id, event.resource_name) == ("user", str(pk), "bo@example.com")
    assert event.snapshot["id"] == pk
    assert event.snapshot["department"] == "Finance"
    assert event.snapshot["job_title"] == "Controller"
    assert event.actor_name == administrator.username
    # The whole history of the user stays readable by its resource id.
    assert event_types(resource_type="user", resource_id=str(pk)) == ["user.created", "user.deleted"]


def test_deleted_snapshot_keeps_the_groups_and_devices_the_user_had(make_user, make_device, system):
    """By the time the row is gone so are its memberships and device ownership; offboarding
    workflows ("on user.deleted, wipe their devices") need them, so the snapshot keeps them."""
    user = make_user("bo")
    group = services.group_create(actor=system, name="Finance")
    services.group_add_member(group=group, user=user, actor=system)
    laptop = make_device("bo-mbp", os_family="macos", owner=user)
    mark = last_event_id()

    services.user_delete(user=user, actor=system)

    assert list(UserGroup.objects.get(pk=group.pk).members.all()) == []
    laptop.refresh_from_db()
    assert laptop.owner is None
    [event] = events_after(mark)  # the cascade itself writes no membership or device events
    assert event.type == "user.deleted"
    assert event.snapshot["groups"] == [{"id": group.pk, "name": "Finance"}]
    assert [(d["id"], d["hostname"]) for d in event.snapshot["devices"]] == [(laptop.pk, "bo-mbp")]


# --- users_import ----------------------------------------------------------------------------


def _rows(n: int, start: int = 0) -> list[dict[str, object]]:
    return [
        {
            "username": f"hire{i:04d}",
            "email": f"hire{i:04d}@example.com",
            "first_name": "New",
            "last_name": f"Hire {i}",
            "department": "Support",
            "hire_date": "2025-01-06",
        }
        for i in range(start, start + n)
    ]


def test_import_of_200_users_writes_200_created_events_in_few_queries(django_assert_max_num_queries):
    actor = Actor.system("hr-import")
    with django_assert_max_num_queries(20):
        created = services.users_import(rows=_rows(200), actor=actor)

    assert len(created) == 200
    assert all(u.pk for u in created)
    assert User.objects.filter(department="Support").count() == 200
    imported = DirectoryEvent.objects.filter(type="user.created")
    assert imported.count() == 200
    assert set(imported.values_list("resource_id", flat=True)) == {str(u.pk) for u in created}
    assert set(imported.values_list("actor_type", "actor_name")) == {("system", "hr-import")}
    first = imported.get(resource_id=str(created[0].pk))
    assert first.snapshot["username"] == "hire0000"
    assert first.snapshot["hire_date"] == "2025-01-06"
    assert first.resource_name == "hire0000@example.com"


def test_import_query_count_does_not_grow_per_row(django_assert_max_num_queries):
    """Managers are checked in one query, not one ``full_clean`` lookup per row."""
    boss = services.user_create(actor=None, username="boss", email="boss@example.com")
    rows = [{**row, "manager": boss.pk} for row in _rows(150)]
    with django_assert_max_num_queries(20):
        created = services.users_import(rows=rows, actor=None)
    assert {u.manager_id for u in created} == {boss.pk}


@pytest.mark.parametrize(
    ("mutate", "key"),
    [
        (lambda rows: rows[2].update(email="hire0000@example.com"), "rows[2].email"),  # duplicate within
        (lambda rows: rows[1].update(username="hire0000"), "rows[1].username"),
        (lambda rows: rows[3].update(email="nope"), "rows[3].email"),
        (lambda rows: rows[0].update(state="gone"), "rows[0].state"),
        (lambda rows: rows[4].update(manager=999_999), "rows[4].manager"),
        (lambda rows: rows[4].update(manager="abc"), "rows[4].manager"),
    ],
)
def test_import_rejects_the_whole_batch_naming_row_and_field(mutate, key):
    rows = _rows(5)
    mutate(rows)
    with pytest.raises(ValidationError) as caught:
        services.users_import(rows=rows, actor=None)
    assert key in caught.value.message_dict
    assert not User.objects.exists()
    assert not DirectoryEvent.objects.exists()


def test_import_refuses_users_that_already_exist(make_user):
    make_user("hire0003", email="someone@example.com")
    with pytest.raises(ValidationError) as caught:
        services.users_import(rows=_rows(5), actor=None)
    assert "rows[3].username" in caught.value.message_dict
    assert User.objects.count() == 1


def test_an_imported_user_saved_later_reports_only_the_new_change():
    [user] = services.users_import(rows=_rows(1), actor=None)
    mark = last_event_id()
    user.job_title = "Agent"
    user.save()
    [event] = events_after(mark)
    assert event.changes == [{"field": "job_title", "from": "", "to": "Agent"}]


def test_an_update_validates_what_it_changes_and_does_not_look_up_an_unchanged_manager(make_user, system):
    boss = make_user("boss")
    ann = make_user("ann", manager=boss)
    with CaptureQueriesContext(connection) as queries:
        services.user_update(user=ann, actor=system, job_title="Lead")
    lookups = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('SELECT 1 AS "a" FROM "directory_user"')
    ]
    assert lookups == []  # the manager's existence was checked when it was set
    with pytest.raises(ValidationError) as exc:
        services.user_update(user=ann, actor=system, manager=boss.pk + 1000)
    assert "manager" in exc.value.message_dict


def test_a_stored_value_no_longer_valid_does_not_block_updating_another_field(make_user, system):
    ann = make_user("ann")
    User.objects.filter(pk=ann.pk).update(employee_type="contractor-legacy")  # e.g. a choice since removed
    ann = User.objects.get(pk=ann.pk)
    services.user_update(user=ann, actor=system, job_title="Lead")
    assert User.objects.get(pk=ann.pk).job_title == "Lead"
    with pytest.raises(ValidationError) as exc:
        services.user_update(user=ann, actor=system, employee_type="nonsense")
    assert "employee_type" in exc.value.message_dict
