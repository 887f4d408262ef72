"""Run-as roles: save-time coverage, the narrowest-role suggestion, run-time object checks."""

from __future__ import annotations

import pytest
from guardian.shortcuts import assign_perm

from directory import services as ds
from directory.models import AdminRole, DirectoryEvent
from directory.role_services import role_create
from executions.tasks import run_execution
from workflows.run_as import check_run_as, narrowest_builtin_role
from workflows.services import WorkflowInvalid, workflow_create, workflow_run

pytestmark = pytest.mark.django_db


def _doc(*tasks):
    return {"dsl": "1.0", "trigger": {"type": "manual"}, "do": list(tasks)}


SUSPEND = {"suspend": {"call": "user.suspend", "with": {"user": "ann"}}}
RETITLE = {"retitle": {"call": "user.update", "with": {"user": "ann", "job_title": "X"}}}
JOIN = {"join": {"call": "user.add_to_group", "with": {"user": "ann", "group": "Sales"}}}


def role(key: str) -> AdminRole:
    return AdminRole.objects.get(key=key)


def test_saving_lists_each_task_and_missing_permission(administrator):
    with pytest.raises(WorkflowInvalid) as info:
        workflow_create(name="w", definition=_doc(RETITLE, SUSPEND), run_as=role("read-only"), actor=administrator)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("do[0].retitle.call", "run-as role Read Only lacks permission directory.change_user needed by user.update"),
        (
            "do[1].suspend.call",
            "run-as role Read Only lacks permission directory.change_user_state needed by user.suspend",
        ),
    ]


def test_help_desk_may_not_run_a_suspend_workflow(administrator):
    with pytest.raises(WorkflowInvalid) as info:
        workflow_create(name="w", definition=_doc(SUSPEND), run_as=role("help-desk"), actor=administrator)
    assert info.value.problems[0].message == (
        "run-as role Help Desk lacks permission directory.change_user_state needed by user.suspend"
    )


@pytest.mark.parametrize(
    ("tasks", "expected"),
    [
        ((RETITLE,), "Help Desk"),
        ((JOIN,), "Help Desk"),
        ((SUSPEND,), "Command Runner with User Management"),
        ((SUSPEND, JOIN, RETITLE), "Command Runner with User Management"),
        ((), "Read Only"),
    ],
)
def test_narrowest_builtin_role(tasks, expected):
    assert narrowest_builtin_role(_doc(*tasks)).name == expected


def test_warns_when_an_administrator_role_is_broader_than_needed():
    report = check_run_as(_doc(RETITLE), role("administrator"))
    assert report.problems == []
    assert report.warnings == [
        "Administrator is broader than this workflow needs; Help Desk covers every action it runs."
    ]
    assert check_run_as(_doc(RETITLE), role("help-desk")).warnings == []


@pytest.fixture
def sales_scoped_role(administrator):
    """A custom role that may change membership of groups Sales and Support only."""
    custom = role_create(name="Sales Membership", based_on=None, actor=administrator)
    for name in ("Sales", "Support", "Engineering"):
        ds.group_create(actor=administrator, name=name)
    for name in ("Sales", "Support"):
        from directory.models import UserGroup

        assign_perm("directory.change_usergroup", custom.group, UserGroup.objects.get(name=name))
    return custom


def test_object_scoped_role_acts_inside_its_scope_and_is_denied_outside(administrator, sales_scoped_role):
    ann = ds.user_create(actor=administrator, username="ann", email="ann@x.example", state="active")
    workflow = workflow_create(
        name="join",
        definition={
            **_doc({"join": {"call": "user.add_to_group", "with": {"user": "ann", "group": "{{ input.group }}"}}}),
            "input": {"schema": {"type": "object", "properties": {"group": {"type": "string"}}}},
        },
        run_as=sales_scoped_role,  # no model permission, object permissions only: saving is allowed
        actor=administrator,
    )

    inside = workflow_run(workflow=workflow, input={"group": "Sales"}, actor=administrator)
    assert run_execution(inside.pk, heartbeat=False) == "succeeded"
    assert set(ann.groups.values_list("name", flat=True)) == {"Sales"}

    events_before = DirectoryEvent.objects.count()
    outside = workflow_run(workflow=workflow, input={"group": "Engineering"}, actor=administrator)
    assert run_execution(outside.pk, heartbeat=False) == "failed"
    outside.refresh_from_db()
    assert outside.steps.get().error == "run-as role Sales Membership may not add ann@x.example to group Engineering"
    assert set(ann.groups.values_list("name", flat=True)) == {"Sales"}
    assert DirectoryEvent.objects.count() == events_before


def test_role_change_takes_effect_between_executions(administrator):
    ann = ds.user_create(actor=administrator, username="ann", email="ann@x.example", state="active")
    helpdesk = role("help-desk")
    workflow = workflow_create(name="retitle", definition=_doc(RETITLE), run_as=helpdesk, actor=administrator)
    first = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(first.pk, heartbeat=False) == "succeeded"

    change_user = helpdesk.group.permissions.get(codename="change_user")
    helpdesk.group.permissions.remove(change_user)
    second = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(second.pk, heartbeat=False) == "failed"
    second.refresh_from_db()
    assert second.steps.get().error == "run-as role Help Desk may not update user ann@x.example"

    helpdesk.group.permissions.add(change_user)
    third = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(third.pk, heartbeat=False) == "succeeded"
    ann.refresh_from_db()
    assert ann.job_title == "X"


def test_an_administrator_may_not_pick_a_broader_run_as_role(administrator, billing_admin):
    with pytest.raises(WorkflowInvalid) as info:
        workflow_create(
            name="w", definition=_doc(RETITLE), run_as=role("administrator-with-billing"), actor=administrator
        )
    problem = info.value.problems[0]
    assert problem.path == "run_as"
    assert problem.message.startswith("Run-as role Administrator with Billing holds permissions you do not: ")
    assert "directory.manage_billing" in problem.message or "more" in problem.message

    # Narrower or equal roles are fine, and a billing admin may choose billing.
    workflow = workflow_create(name="w", definition=_doc(RETITLE), run_as=role("help-desk"), actor=administrator)
    from workflows.services import workflow_update

    with pytest.raises(WorkflowInvalid):
        workflow_update(workflow=workflow, actor=administrator, run_as=role("administrator-with-billing"))
    workflow_update(workflow=workflow, actor=billing_admin, run_as=role("administrator-with-billing"))
    workflow.refresh_from_db()
    assert workflow.run_as.key == "administrator-with-billing"
