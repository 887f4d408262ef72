"""Object scopes over the members of a user group: "may suspend the users of Sales only"."""

from __future__ import annotations

from typing import Any

import pytest

from directory import role_services
from directory import services as ds
from directory.models import AdminRole, User, UserGroup
from directory.scopes import member_scope_allows
from workflows.run_as import check_run_as, role_permissions

pytestmark = pytest.mark.django_db

SUSPEND_INPUT = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {"schema": {"type": "object", "required": ["user"], "properties": {"user": {"type": "string"}}}},
    "do": [{"offboard": {"call": "user.suspend", "with": {"user": "{{ input.user }}"}}}],
}


@pytest.fixture
def world(billing_admin: Any) -> dict[str, Any]:
    """A copy of Help Desk that may change the state of the users of Sales, and two users."""
    sales = ds.group_create(actor=None, name="Sales")
    ds.group_create(actor=None, name="Support")
    role = role_services.role_create(
        name="Sales Help Desk", based_on=AdminRole.objects.get(key="help-desk"), actor=billing_admin
    )
    role_services.role_scope_add(
        role=role, actor=billing_admin, permission="directory.change_user_state", user_group=sales
    )
    ann = ds.user_create(actor=None, username="ann", email="ann@x.example", state="active")
    bob = ds.user_create(actor=None, username="bob", email="bob@x.example", state="active")
    ds.group_add_member(group=sales, user=ann, actor=None)
    return {"role": role, "sales": sales, "ann": ann, "bob": bob}


def test_the_scope_follows_membership(world):
    principal, ann, bob = world["role"].principal, world["ann"], world["bob"]
    assert member_scope_allows(principal, "directory.change_user_state", ann)
    assert not member_scope_allows(principal, "directory.change_user_state", bob)
    assert not member_scope_allows(principal, "directory.delete_user", ann)  # only the scoped permission

    ds.group_add_member(group=world["sales"], user=bob, actor=None)
    ds.group_remove_member(group=world["sales"], user=ann, actor=None)
    assert member_scope_allows(principal, "directory.change_user_state", bob)
    assert not member_scope_allows(principal, "directory.change_user_state", ann)


def test_the_scope_is_the_roles_own(world, make_admin):
    ann = world["ann"]
    assert not member_scope_allows(AdminRole.objects.get(key="help-desk").principal, "directory.change_user_state", ann)
    person = make_admin("admin-sam", world["role"].key)  # an admin holding the role has the same scope
    assert member_scope_allows(person, "directory.change_user_state", ann)
    assert not member_scope_allows(person, "directory.change_user_state", world["sales"])  # users only
    assert not member_scope_allows(None, "directory.change_user_state", ann)
    assert not member_scope_allows(person, "directory.change_user_state", User(username="unsaved"))


def test_a_deleted_group_takes_its_scopes_with_it(world):
    ds.group_delete(group=world["sales"], actor=None)
    assert not member_scope_allows(world["role"].principal, "directory.change_user_state", world["ann"])
    assert "directory.change_user_state" not in role_permissions(world["role"])


def test_saving_a_workflow_counts_the_scope(world):
    """Coverage at save time: the role may change state somewhere, so the workflow may be saved;
    the run-time check on the actual user decides each run."""
    assert "directory.change_user_state" in role_permissions(world["role"])
    assert check_run_as(SUSPEND_INPUT, world["role"]).problems == []


def test_a_workflow_running_as_the_scoped_role_suspends_inside_the_group_only(world, billing_admin):
    from executions.tasks import run_execution
    from workflows.services import workflow_create, workflow_run

    workflow = workflow_create(name="Offboard", definition=SUSPEND_INPUT, run_as=world["role"], actor=billing_admin)

    inside = workflow_run(workflow=workflow, input={"user": "ann"}, actor=billing_admin)
    assert run_execution(inside.pk, heartbeat=False) == "succeeded"
    assert User.objects.get(pk=world["ann"].pk).state == "suspended"

    outside = workflow_run(workflow=workflow, input={"user": "bob"}, actor=billing_admin)
    assert run_execution(outside.pk, heartbeat=False) == "failed"
    outside.refresh_from_db()
    assert outside.steps.get().error == "run-as role Sales Help Desk may not suspend user bob@x.example"
    assert User.objects.get(pk=world["bob"].pk).state == "active"


def test_unknown_objects_are_never_in_scope(world):
    assert not member_scope_allows(world["role"].principal, "directory.change_user_state", UserGroup(name="x"))
