"""User actions: create, delete, lock, unlock, expire the password, reset MFA, set the manager,
leave every group — directory state, events and outputs, through the engine."""

from __future__ import annotations

import pytest

from directory.models import AdminRole, User, UserGroup
from tests.workflows.actions.conftest import events_since, last_event

pytestmark = pytest.mark.django_db


def test_create_user_staged_with_a_manager(call, world):
    mark = last_event()
    params = {"username": "cy", "email": "cy@example.com", "department": "Sales", "manager": "bob"}
    ran = call("user.create", {**params, "hire_date": "2026-03-02"})
    assert ran.status == "succeeded", ran.error
    cy = User.objects.get(username="cy")
    assert (cy.state, cy.department, cy.manager, str(cy.hire_date)) == ("staged", "Sales", world["bob"], "2026-03-02")
    assert ran.output["id"] == cy.pk and ran.output["manager"] == world["bob"].pk
    assert ran.output["display_name"] == "cy" and ran.output["state"] == "staged"
    [event] = events_since(mark)
    assert (event.type, event.actor_type) == ("user.created", "execution")
    assert event.caused_by_execution_id == ran.execution.pk


def test_create_user_active_needs_the_state_permission(call, world):
    ran = call("user.create", {"username": "cy", "email": "cy@example.com", "state": "active"})
    assert ran.status == "succeeded" and User.objects.get(username="cy").state == "active"

    help_desk = AdminRole.objects.get(key="help-desk")  # may add users, not activate them
    ran = call("user.create", {"username": "di", "email": "di@example.com", "state": "active"}, role=help_desk)
    assert ran.status == "failed"
    assert ran.error == "run-as role Help Desk may not create active users"
    assert not User.objects.filter(username="di").exists()


def test_create_user_that_exists_fails_naming_the_field(call, world):
    ran = call("user.create", {"username": "ann", "email": "new@example.com"})
    assert ran.status == "failed" and ran.error.startswith("username: ")
    assert User.objects.filter(username="ann").count() == 1


def test_delete_user(call, world):
    mark = last_event()
    ran = call("user.delete", {"user": "ann@example.com"})
    assert ran.output == {"id": world["ann"].pk, "username": "ann", "email": "ann@example.com", "deleted": True}
    assert not User.objects.filter(username="ann").exists()
    world["laptop"].refresh_from_db()
    assert world["laptop"].owner is None
    deleted = [e for e in events_since(mark) if e.type == "user.deleted"]
    assert len(deleted) == 1 and deleted[0].snapshot["groups"] == [{"id": world["sales"].pk, "name": "Sales"}]


@pytest.mark.parametrize(
    ("key", "field", "before", "after", "event"),
    [
        ("user.lock", "account_locked", False, True, "user.locked"),
        ("user.expire_password", "password_expired", False, True, "user.password_expired"),
        ("user.reset_mfa", "mfa_enrolled", True, False, "user.mfa_reset"),
    ],
)
def test_account_flags(call, world, key, field, before, after, event):
    assert getattr(world["ann"], field) is before
    mark = last_event()
    ran = call(key, {"user": "ann"})
    assert ran.status == "succeeded", ran.error
    assert ran.output[field] is after and ran.output["changed"] is True
    assert getattr(User.objects.get(username="ann"), field) is after
    assert [e.type for e in events_since(mark)] == [event]

    again = call(key, {"user": "ann"})  # already so: nothing changes, nothing is recorded
    assert again.output["changed"] is False
    assert [e.type for e in events_since(mark)] == [event]


def test_unlock(call, world):
    call("user.lock", {"user": "ann"})
    mark = last_event()
    ran = call("user.unlock", {"user": world["ann"].pk})
    assert ran.output["account_locked"] is False and ran.output["changed"] is True
    assert User.objects.get(username="ann").account_locked is False
    assert [e.type for e in events_since(mark)] == ["user.unlocked"]


def test_set_manager_and_clear_it(call, world):
    mark = last_event()
    ran = call("user.set_manager", {"user": "ann", "manager": "bob@example.com"})
    assert ran.status == "succeeded", ran.error
    assert ran.output["manager"] == {"id": world["bob"].pk, "username": "bob", "email": "bob@example.com"}
    assert ran.output["previous_manager"] is None and ran.output["changed"] is True
    assert User.objects.get(username="ann").manager == world["bob"]
    [event] = events_since(mark)
    assert event.type == "user.updated" and event.changes == [{"field": "manager", "from": None, "to": world["bob"].pk}]

    ran = call("user.set_manager", {"user": "ann", "manager": None})
    assert ran.output["manager"] is None and ran.output["previous_manager"]["username"] == "bob"
    assert User.objects.get(username="ann").manager is None


def test_set_manager_refuses_a_loop(call, world):
    call("user.set_manager", {"user": "ann", "manager": "bob"})
    ran = call("user.set_manager", {"user": "bob", "manager": "ann"})
    assert ran.status == "failed"
    assert ran.error == (
        "manager: ann@example.com reports to bob@example.com, directly or through others; "
        "a reporting chain cannot loop."
    )
    assert User.objects.get(username="bob").manager is None


def test_remove_from_all_groups_outputs_the_groups_for_a_later_step(call, world, administrator, admin_role):
    from directory import services as ds
    from executions.tasks import run_execution
    from workflows.services import workflow_create, workflow_run

    vpn = ds.group_create(actor=administrator, name="VPN")
    ds.group_add_member(group=vpn, user=world["ann"], actor=administrator)
    mark = last_event()
    workflow = workflow_create(
        name="leave and come back",
        definition={
            "dsl": "1.0",
            "trigger": {"type": "manual"},
            "do": [
                {"leave": {"call": "user.remove_from_all_groups", "with": {"user": "ann"}}},
                {
                    "back": {
                        "for": {"each": "g", "in": "{{ steps.leave.output.groups }}"},
                        "do": [
                            {"rejoin": {"call": "user.add_to_group", "with": {"user": "ann", "group": "{{ g.id }}"}}}
                        ],
                    }
                },
            ],
        },
        run_as=admin_role,
        actor=administrator,
    )
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    leave = execution.steps.get(name="leave")
    assert leave.output["groups"] == [{"id": world["sales"].pk, "name": "Sales"}, {"id": vpn.pk, "name": "VPN"}]
    assert leave.output["count"] == 2
    types = [(e.type, e.resource_name) for e in events_since(mark)]
    assert types[:2] == [("user_group.member_removed", "Sales"), ("user_group.member_removed", "VPN")]
    assert sorted(types[2:]) == [("user_group.member_added", "Sales"), ("user_group.member_added", "VPN")]
    assert set(UserGroup.objects.filter(members=world["ann"]).values_list("name", flat=True)) == {"Sales", "VPN"}


def test_remove_from_all_groups_checks_every_group_first(call, world, administrator):
    """A role that may change Sales but not VPN leaves ann in both: nothing half-done."""
    from guardian.shortcuts import assign_perm

    from directory import services as ds
    from directory.role_services import role_create

    vpn = ds.group_create(actor=administrator, name="VPN")
    ds.group_add_member(group=vpn, user=world["ann"], actor=administrator)
    scoped = role_create(name="Sales membership", based_on=None, actor=administrator)
    assign_perm("directory.change_usergroup", scoped.group, world["sales"])
    mark = last_event()

    ran = call("user.remove_from_all_groups", {"user": "ann"}, role=scoped)

    assert ran.status == "failed"
    assert ran.error == "run-as role Sales membership may not remove ann@example.com from group VPN"
    assert set(UserGroup.objects.filter(members=world["ann"]).values_list("name", flat=True)) == {"Sales", "VPN"}
    assert events_since(mark) == []


def test_templated_params_are_checked_when_rendered(call, world):
    ran = call("user.lock", {"user": "{{ [1, 2] }}"})
    assert ran.status == "failed" and ran.error.startswith("with.user: ")
