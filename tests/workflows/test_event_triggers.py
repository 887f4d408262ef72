"""Event triggers: every event type fires, ``when`` filters, exactly once, no runaway loops."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction

from directory import services as ds
from directory.event_types import EVENT_TYPES
from directory.models import AdminRole, DirectoryEvent
from executions.models import Execution
from executions.tasks import run_execution
from workflows.dispatch import dispatch_events
from workflows.models import Workflow
from workflows.services import workflow_create, workflow_delete, workflow_set_enabled

pytestmark = pytest.mark.django_db

NOOP = [{"noop": {"switch": [{"default": {"do": []}}]}}]


@pytest.fixture(autouse=True)
def inline_dispatch(settings):
    settings.KEYFLOW_DISPATCH_INLINE = True


@pytest.fixture
def committed(django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Run ``fn`` and then its on-commit callbacks (dispatch), as a real commit would."""

    def go(fn: Callable[[], Any]) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return fn()

    return go


@pytest.fixture
def role() -> AdminRole:
    return AdminRole.objects.get(key="administrator")


def event_workflow(role, administrator, event: str, do=None, when: Any = None, name: str | None = None):
    trigger: dict[str, Any] = {"type": "event", "event": event}
    if when is not None:
        trigger["when"] = when
    return workflow_create(
        name=name or f"on {event}",
        definition={"dsl": "1.0", "trigger": trigger, "do": do or NOOP},
        run_as=role,
        actor=administrator,
    )


def _make_every_event(actor) -> None:
    """Cause one event of every registered type."""
    user = ds.user_create(actor=actor, username="u1", email="u1@example.com", mfa_enrolled=True)  # user.created
    ds.user_update(user=user, actor=actor, department="Eng")  # user.updated
    ds.user_activate(user=user, actor=actor)  # user.activated
    ds.user_lock(user=user, actor=actor)  # user.locked
    ds.user_unlock(user=user, actor=actor)  # user.unlocked
    ds.user_expire_password(user=user, actor=actor)  # user.password_expired
    ds.user_reset_mfa(user=user, actor=actor)  # user.mfa_reset
    ds.user_suspend(user=user, actor=actor)  # user.suspended
    group = ds.group_create(actor=actor, name="G")  # user_group.created
    ds.group_add_member(group=group, user=user, actor=actor)  # member_added
    ds.group_remove_member(group=group, user=user, actor=actor)  # member_removed
    device = ds.device_create(actor=actor, hostname="h1", os_family="linux")  # device.created
    ds.device_update(device=device, actor=actor, firewall_enabled=True)  # device.updated
    dgroup = ds.device_group_create(actor=actor, name="DG")
    ds.device_group_add_member(device_group=dgroup, device=device, actor=actor)
    ds.device_group_remove_member(device_group=dgroup, device=device, actor=actor)
    policy = ds.policy_create(actor=actor, name="P", type="firewall")
    ds.policy_bind(policy=policy, device=device, actor=actor)
    ds.policy_unbind(policy=policy, device=device, actor=actor)
    command = ds.command_create(actor=actor, name="C", script="true")
    run = ds.command_run_request(command=command, device=device, actor=actor)
    ds.command_run_finish(run=run, exit_code=0, actor=actor)  # command.finished
    enrolment, _token = ds.agent_enrolment_token_create(device=device, actor=actor)  # agent_enrolment_created
    ds.agent_enrol(enrolment=enrolment)  # device.agent_enrolled
    ds.agent_tokens_revoke(device=device, actor=actor)  # device.agent_revoked
    _make_every_access_event(actor, group=group)
    ds.device_delete(device=device, actor=actor)  # device.deleted
    ds.group_delete(group=group, actor=actor)  # user_group.deleted
    ds.user_delete(user=user, actor=actor)  # user.deleted


def _make_every_access_event(actor, group) -> None:
    """Cause one event of every admin role and admin account type."""
    from directory import account_services, role_services
    from directory.scopes import role_scopes

    role = role_services.role_create(name="R", based_on=None, actor=actor)  # admin_role.created
    role_services.role_update(role=role, actor=actor, description="d")  # admin_role.updated
    role_services.role_set_permissions(role=role, actor=actor, permissions={"directory.view_user"})  # granted
    role_services.role_set_permissions(role=role, actor=actor, permissions=set())  # revoked
    role_services.role_scope_add(role=role, actor=actor, permission="directory.change_user_state", user_group=group)
    role_services.role_scope_remove(role=role, actor=actor, scope=role_scopes(role)[0])  # scope_removed
    account = account_services.admin_account_create(actor=actor, username="a1", password=None)  # created
    account_services.admin_account_update(account=account, actor=actor, email="a1@example.com")  # updated
    role_services.admin_set_role(admin=account, role=role, actor=actor)  # admin_account.role_changed
    account_services.admin_account_set_password(account=account, password="pw-1-long-enough", actor=actor)
    account_services.admin_account_delete(account=account, actor=actor)  # admin_account.deleted
    role_services.role_delete(role=role, actor=actor)  # admin_role.deleted


def test_each_event_type_fires_its_workflows(role, administrator, committed):
    workflows = {key: event_workflow(role, administrator, key) for key in EVENT_TYPES}
    committed(lambda: _make_every_event(administrator))
    for key, workflow in workflows.items():
        count = Execution.objects.filter(workflow=workflow).count()
        assert count == 1, f"{key}: {count} executions"
        assert Execution.objects.get(workflow=workflow).event.type == key


def test_when_filters_on_event_data(role, administrator, committed):
    eng = event_workflow(
        role, administrator, "user.created", when="{{ event.user.department == 'Engineering' }}", name="eng only"
    )
    structured = event_workflow(
        role,
        administrator,
        "user.created",
        when={"left": "{{ event.user.employee_type }}", "op": "eq", "right": "contractor"},
        name="contractors",
    )
    committed(lambda: ds.user_create(actor=administrator, username="e", email="e@x.com", department="Engineering"))
    committed(
        lambda: ds.user_create(
            actor=administrator, username="s", email="s@x.com", department="Sales", employee_type="contractor"
        )
    )
    assert [e.event.resource_name for e in Execution.objects.filter(workflow=eng)] == ["e@x.com"]
    assert [e.event.resource_name for e in Execution.objects.filter(workflow=structured)] == ["s@x.com"]


def test_rolled_back_change_fires_nothing(role, administrator, committed):
    event_workflow(role, administrator, "user.created")

    def failing() -> None:
        with transaction.atomic():
            ds.user_create(actor=administrator, username="ghost", email="ghost@x.com")
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        committed(failing)
    assert not DirectoryEvent.objects.filter(resource_name="ghost@x.com").exists()
    assert Execution.objects.count() == 0


def test_disabled_workflow_is_skipped_and_enabling_does_not_replay(role, administrator, committed):
    workflow = event_workflow(role, administrator, "user.created")
    workflow_set_enabled(workflow=workflow, enabled=False, actor=administrator)
    committed(lambda: ds.user_create(actor=administrator, username="a", email="a@x.com"))
    assert Execution.objects.count() == 0

    # An event committed while disabled but dispatched after enabling is not replayed either.
    event = ds.user_create(actor=administrator, username="b", email="b@x.com")
    workflow_set_enabled(workflow=workflow, enabled=True, actor=administrator)
    dispatch_events([DirectoryEvent.objects.get(resource_name=event.email).pk])
    assert Execution.objects.count() == 0

    committed(lambda: ds.user_create(actor=administrator, username="c", email="c@x.com"))
    assert Execution.objects.count() == 1


def test_repeated_dispatch_creates_no_duplicate(role, administrator):
    workflow = event_workflow(role, administrator, "user.created")
    ds.user_create(actor=administrator, username="a", email="a@x.com")
    event = DirectoryEvent.objects.get(type="user.created")
    assert dispatch_events([event.pk]) == 1
    DirectoryEvent.objects.filter(pk=event.pk).update(dispatched_at=None)  # as if the first run's mark was lost
    dispatch_events([event.pk])
    assert Execution.objects.filter(workflow=workflow).count() == 1


def test_loop_guard_ends_self_triggering_chain(role, administrator, committed, settings):
    settings.KEYFLOW_MAX_TRIGGER_DEPTH = 3
    workflow = event_workflow(
        role,
        administrator,
        "user.updated",
        do=[
            {
                "bump": {
                    "call": "user.update",
                    "with": {
                        "user": "{{ event.user.id }}",
                        "attributes": {"bumps": "{{ (event.user.attributes.bumps | default(0)) + 1 }}"},
                    },
                }
            }
        ],
    )
    user = ds.user_create(actor=administrator, username="loop", email="loop@x.com")
    committed(lambda: ds.user_update(user=user, actor=administrator, job_title="Start"))
    for _ in range(20):  # drive the chain like workers would; it must end by itself
        queued = list(Execution.objects.filter(status="queued").values_list("pk", flat=True))
        if not queued:
            break
        for pk in queued:
            committed(lambda pk=pk: run_execution(pk, heartbeat=False))
    executions = Execution.objects.filter(workflow=workflow).order_by("pk")
    assert [e.depth for e in executions] == [0, 1, 2, 3]
    assert all(e.status == "succeeded" for e in executions)
    user.refresh_from_db()
    assert user.attributes["bumps"] == 4
    last = DirectoryEvent.objects.filter(type="user.updated").order_by("pk").last()
    assert last.depth == 4
    assert "Loop guard" in last.dispatch_note and workflow.name in last.dispatch_note


def test_event_context_resolves_user_groups_and_devices(role, administrator, committed):
    workflow = event_workflow(
        role,
        administrator,
        "user_group.member_added",
        when={
            "all": [
                {"left": "{{ event.group.name }}", "op": "eq", "right": "VPN"},
                {"left": "{{ event.user }}", "op": "member_of", "right": "VPN"},
                {
                    "left": "{{ event.user.devices | map(attribute='hostname') | list }}",
                    "op": "contains",
                    "right": "lap-1",
                },
            ]
        },
    )
    user = ds.user_create(actor=administrator, username="v", email="v@x.com")
    ds.device_create(actor=administrator, hostname="lap-1", os_family="macos", owner=user)
    group = ds.group_create(actor=administrator, name="VPN")
    committed(lambda: ds.group_add_member(group=group, user=user, actor=administrator))
    assert Execution.objects.filter(workflow=workflow).count() == 1


def test_bulk_import_dispatches_in_batches(role, administrator, django_assert_max_num_queries, settings):
    settings.KEYFLOW_DISPATCH_BATCH = 500
    event_workflow(role, administrator, "user.created", name="one")
    event_workflow(role, administrator, "user.created", name="two")
    rows = [{"username": f"bulk{i}", "email": f"bulk{i}@x.com"} for i in range(500)]
    ds.users_import(rows=rows, actor=administrator)
    ids = list(DirectoryEvent.objects.filter(type="user.created").values_list("pk", flat=True))
    # A constant number of queries per batch, not per workflow per event (SQLite splits the
    # insert into chunks of its parameter limit, about 50 rows; the history's cancel and re-run
    # columns made the chunks a little smaller).
    with django_assert_max_num_queries(36):
        assert dispatch_events(ids) == 1000
    assert Execution.objects.count() == 1000


def test_sweeper_dispatches_events_whose_dispatch_was_lost(role, administrator, settings):
    from executions.tasks import sweep

    settings.KEYFLOW_DISPATCH_INLINE = False
    workflow = event_workflow(role, administrator, "user.created")
    Workflow.objects.filter(pk=workflow.pk).update(enabled_at=workflow.enabled_at - timedelta(minutes=10))
    ds.user_create(actor=administrator, username="lost", email="lost@x.com")  # no commit hooks ran: not dispatched
    event = DirectoryEvent.objects.get(type="user.created")
    assert event.dispatched_at is None
    DirectoryEvent.objects.filter(pk=event.pk).update(occurred_at=event.occurred_at - timedelta(minutes=5))
    result = sweep()
    assert result["dispatched_events"] == [event.pk]
    assert Execution.objects.filter(workflow=workflow, event=event).count() == 1
    assert sweep()["dispatched_events"] == []


def test_policy_and_command_events_carry_their_objects(role, administrator, committed):
    bound = event_workflow(
        role, administrator, "policy.bound", when="{{ event.policy.name == 'FW' and event.device.hostname == 'h1' }}"
    )
    finished = event_workflow(
        role,
        administrator,
        "command.finished",
        when="{{ event.command.name == 'C' and event.command_run.exit_code == 3 }}",
    )
    device = ds.device_create(actor=administrator, hostname="h1", os_family="linux")
    policy = ds.policy_create(actor=administrator, name="FW", type="firewall")
    command = ds.command_create(actor=administrator, name="C", script="exit 3")
    committed(lambda: ds.policy_bind(policy=policy, device=device, actor=administrator))
    run = ds.command_run_request(command=command, device=device, actor=administrator)
    committed(lambda: ds.command_run_finish(run=run, exit_code=3, actor=administrator))
    assert Execution.objects.filter(workflow=bound).count() == 1
    assert Execution.objects.filter(workflow=finished).count() == 1


def test_catalogue_lists_trigger_types_and_event_fields():
    from workflows.triggers import event_catalogue, trigger_catalogue

    assert [t["key"] for t in trigger_catalogue()] == ["manual", "event", "schedule"]
    assert "cron" in trigger_catalogue()[2]["schema"]["properties"]
    events = {e["key"]: e for e in event_catalogue()}
    assert set(events) == set(EVENT_TYPES)
    assert {"groups", "devices", "department", "email"} <= set(events["user.created"]["objects"]["user"])
    assert {"owner", "groups", "hostname"} <= set(events["device.created"]["objects"]["device"])


def test_an_event_type_is_listened_to_only_by_enabled_event_workflows(role, administrator, django_assert_num_queries):
    from workflows.dispatch import is_listened, listening_read_once

    on_created = event_workflow(role, administrator, "user.created")
    event_workflow(role, administrator, "user.locked")
    workflow_set_enabled(workflow=Workflow.objects.get(trigger_event="user.locked"), enabled=False, actor=administrator)
    workflow_create(
        name="manual",
        definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": NOOP},
        run_as=role,
        actor=administrator,
    )
    with django_assert_num_queries(1):
        assert is_listened("user.created")
    assert not is_listened("user.locked") and not is_listened("user.updated")
    workflow_delete(workflow=on_created, actor=administrator)
    assert not is_listened("user.created")
    with listening_read_once(), django_assert_num_queries(1):  # one read answers the whole block
        assert [is_listened(t) for t in ("user.created", "user.locked", "user.updated")] == [False] * 3
