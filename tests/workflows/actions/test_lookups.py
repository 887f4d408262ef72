"""Lookups: every filter of user.find and device.find, paging, relations, get and members, and what a
run-as role with object scopes only gets to see."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.utils import timezone
from guardian.shortcuts import assign_perm

from directory import services as ds
from directory.models import AdminRole, Device, User
from directory.role_services import role_create, role_scope_add, role_set_permissions
from tests.workflows.actions.conftest import events_since, last_event

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture
def people(world, administrator) -> dict[str, User]:
    """ann (Sales, staged, MFA, cost center 42, never signed in), bob (Engineering, active),
    cy (Sales contractor reporting to bob, signed in 100 days ago, leaving in 20 days), di
    (Support, suspended, reporting to bob, signed in 5 days ago, left 40 days ago)."""
    a = administrator
    now = timezone.now()
    ann = world["ann"]
    ds.user_update(user=ann, actor=a, attributes={"cost_center": "42"})
    cy = ds.user_create(
        actor=a,
        username="cy",
        email="Cy@Example.com",
        department="sales",
        state="active",
        employee_type="contractor",
        manager=world["bob"],
        last_login_at=now - timedelta(days=100),
        hire_date=date(2026, 1, 15),
        termination_date=TODAY + timedelta(days=20),
        attributes={"cost_center": "7", "remote": True},
    )
    di = ds.user_create(
        actor=a,
        username="di",
        email="di@example.com",
        department="Support",
        state="active",
        manager=world["bob"],
        last_login_at=now - timedelta(days=5),
        hire_date=date(2025, 6, 1),
        termination_date=TODAY - timedelta(days=40),
    )
    ds.user_suspend(user=di, actor=a)
    return {"ann": ann, "bob": world["bob"], "cy": User.objects.get(pk=cy.pk), "di": User.objects.get(pk=di.pk)}


def names(ran: Any) -> list[str]:
    assert ran.status == "succeeded", ran.error
    return [item.get("username") or item.get("hostname") for item in ran.output["items"]]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["ann", "bob", "cy", "di"]),
        ({"email": "cy@example.COM"}, ["cy"]),
        ({"username": "BOB"}, ["bob"]),
        ({"department": "Sales"}, ["ann", "cy"]),
        ({"department": ["support", "Engineering"]}, ["bob", "di"]),
        ({"state": "active"}, ["bob", "cy"]),
        ({"state": ["staged", "suspended"]}, ["ann", "di"]),
        ({"employee_type": "contractor"}, ["cy"]),
        ({"group": "Sales"}, ["ann"]),
        ({"manager": "bob@example.com"}, ["cy", "di"]),
        ({"attributes": {"cost_center": "42"}}, ["ann"]),
        ({"attributes": {"remote": True}}, ["cy"]),
        ({"attributes": {"cost_center": 42}}, []),
        ({"attributes": {"cost_center": None}}, ["bob", "di"]),
        ({"mfa_enrolled": True}, ["ann"]),
        ({"mfa_enrolled": False}, ["bob", "cy", "di"]),
        ({"last_login_at": {"older_than_days": 90}}, ["cy"]),
        ({"last_login_at": {"older_than_days": 90, "or_missing": True}}, ["ann", "bob", "cy"]),
        ({"last_login_at": {"newer_than_days": 30}}, ["di"]),
        ({"last_login_at": {"missing": True}}, ["ann", "bob"]),
        ({"last_login_at": {"missing": False}}, ["cy", "di"]),
        ({"last_login_at": {"after": (TODAY - timedelta(days=50)).isoformat()}}, ["di"]),
        ({"last_login_at": {"before": (timezone.now() - timedelta(days=50)).isoformat()}}, ["cy"]),
        ({"hire_date": {"before": "2026-01-01"}}, ["di"]),
        ({"hire_date": {"after": "2026-01-14"}}, ["cy"]),
        ({"hire_date": {"after": "2026-01-15"}}, []),
        ({"termination_date": {"older_than_days": 30}}, ["di"]),
        ({"termination_date": {"newer_than_days": 30}}, ["cy"]),
        ({"termination_date": {"after": TODAY.isoformat()}}, ["cy"]),
        ({"department": "sales", "state": "active", "last_login_at": {"older_than_days": 90}}, ["cy"]),
    ],
)
def test_user_find_filters(call, people, params, expected):
    assert names(call("user.find", params)) == expected


def test_user_find_pages(call, people):
    first = call("user.find", {"limit": 3})
    assert names(first) == ["ann", "bob", "cy"]
    assert (first.output["count"], first.output["total"], first.output["has_more"]) == (3, 4, True)
    rest = call("user.find", {"limit": 3, "offset": 3})
    assert names(rest) == ["di"]
    assert (rest.output["count"], rest.output["total"], rest.output["has_more"]) == (1, 4, False)


def test_user_find_items_are_plain_data_with_relations_on_request(call, people, world):
    plain = call("user.find", {"username": "ann"}).output["items"][0]
    assert plain["email"] == "ann@example.com" and plain["display_name"] == "Ann"
    assert plain["attributes"] == {"cost_center": "42"} and plain["last_login_at"] is None
    assert "groups" not in plain and "devices" not in plain
    full = call("user.find", {"username": "ann", "include": ["groups", "devices"]}).output["items"][0]
    assert full["groups"] == [{"id": world["sales"].pk, "name": "Sales"}]
    assert [d["hostname"] for d in full["devices"]] == ["lin-042"]


def test_user_find_queries_do_not_grow_with_the_page(people, administrator, django_assert_max_num_queries):
    from directory.actors import Actor
    from workflows.actions.base import ActionContext
    from workflows.actions.registry import get_action

    for n in range(30):
        ds.user_create(actor=administrator, username=f"u{n:02}", email=f"u{n}@example.com", department="Sales")
    role = AdminRole.objects.get(key="read-only")
    ctx = ActionContext(actor=Actor.system(), principal=role.principal, role_name=role.name)
    with django_assert_max_num_queries(6):
        out = get_action("user.find").run(ctx, {"department": "Sales", "include": ["groups", "devices"]})
    assert out["total"] == 32


def test_a_bad_date_names_the_param(call, people):
    ran = call("user.find", {"hire_date": {"before": "{{ 'next Tuesday' }}"}})
    assert (
        ran.status == "failed"
        and ran.error == "with.hire_date.before: 'next Tuesday' is not an ISO date (2026-03-01) or date-time"
    )
    assert call("user.find", {"group": "Nobody"}).error == "No user group matches 'Nobody'"


def test_user_get_reads_one_user_with_groups_and_devices(call, people, world):
    mark = last_event()
    ran = call("user.get", {"user": "ann@example.com"})
    assert ran.output["id"] == world["ann"].pk and ran.output["department"] == "Sales"
    assert ran.output["groups"] == [{"id": world["sales"].pk, "name": "Sales"}]
    assert ran.output["devices"][0]["hostname"] == "lin-042"
    assert events_since(mark) == []  # a lookup changes nothing
    assert call("user.get", {"user": "zed"}).error == "No user matches 'zed'"


def test_group_members(call, people, administrator, world):
    ds.group_add_member(group=world["sales"], user=people["cy"], actor=administrator)
    ran = call("user_group.members", {"group": "Sales"})
    assert names(ran) == ["ann", "cy"]
    assert ran.output["group"] == {"id": world["sales"].pk, "name": "Sales"} and ran.output["total"] == 2
    assert names(call("user_group.members", {"group": world["sales"].pk, "state": "active"})) == ["cy"]
    paged = call("user_group.members", {"group": "Sales", "limit": 1, "offset": 1, "include": ["groups"]})
    assert names(paged) == ["cy"] and paged.output["has_more"] is False
    assert paged.output["items"][0]["groups"] == [{"id": world["sales"].pk, "name": "Sales"}]


# --- devices -------------------------------------------------------------------------------------


@pytest.fixture
def fleet(world, people, administrator) -> dict[str, Device]:
    """lin-042 (Linux 24.04, ann's, in Laptops, called in now), pc-7 (Windows, never called in),
    mac-1 (macOS 14.4.1, bob's, encrypted, firewall on, 40 days silent), mac-2 (macOS 13.6,
    locked, never called in), mac-3 (macOS without a version, retired)."""
    a = administrator
    now = timezone.now()
    ds.device_update(device=world["laptop"], actor=a, last_contact_at=now)
    mac1 = ds.device_create(
        actor=a,
        hostname="mac-1",
        os_family="macos",
        os_version="14.4.1",
        owner=people["bob"],
        disk_encrypted=True,
        firewall_enabled=True,
        last_contact_at=now - timedelta(days=40),
    )
    mac2 = ds.device_create(actor=a, hostname="mac-2", os_family="macos", os_version="13.6", locked=True)
    mac3 = ds.device_create(actor=a, hostname="mac-3", os_family="macos", active=False)
    return {"lin": world["laptop"], "pc": world["pc"], "mac1": mac1, "mac2": mac2, "mac3": mac3}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ["lin-042", "mac-1", "mac-2", "mac-3", "pc-7"]),
        ({"owner": "ann"}, ["lin-042"]),
        ({"group": "Laptops"}, ["lin-042"]),
        ({"os_family": "macos"}, ["mac-1", "mac-2", "mac-3"]),
        ({"os_family": ["linux", "windows"]}, ["lin-042", "pc-7"]),
        ({"os_version": "13.6"}, ["mac-2"]),
        ({"os_family": "macos", "os_version": {"below": "14.4"}}, ["mac-2"]),
        ({"os_family": "macos", "os_version": {"below": "14.10"}}, ["mac-1", "mac-2"]),
        ({"os_family": "macos", "os_version": {"at_least": "14"}}, ["mac-1"]),
        ({"os_version": {"at_least": "13.6", "below": "14.4.1"}}, ["mac-2"]),
        ({"os_version": {"at_least": "10"}}, ["lin-042", "mac-1", "mac-2", "pc-7"]),
        ({"last_contact_at": {"older_than_days": 30}}, ["mac-1"]),
        ({"last_contact_at": {"older_than_days": 30, "or_missing": True}}, ["mac-1", "mac-2", "mac-3", "pc-7"]),
        ({"last_contact_at": {"newer_than_days": 1}}, ["lin-042"]),
        ({"disk_encrypted": False, "active": True}, ["lin-042", "mac-2", "pc-7"]),
        ({"firewall_enabled": True}, ["mac-1"]),
        ({"locked": True}, ["mac-2"]),
        ({"active": False}, ["mac-3"]),
    ],
)
def test_device_find_filters(call, fleet, params, expected):
    assert names(call("device.find", params)) == expected


def test_device_find_pages_also_with_a_version_range(call, fleet):
    ran = call("device.find", {"os_version": {"at_least": "10"}, "limit": 2, "offset": 1})
    assert names(ran) == ["mac-1", "mac-2"]
    assert (ran.output["count"], ran.output["total"], ran.output["has_more"]) == (2, 4, True)
    ran = call("device.find", {"limit": 2, "offset": 4})
    assert names(ran) == ["pc-7"] and (ran.output["total"], ran.output["has_more"]) == (5, False)


def test_device_items_and_device_get(call, fleet, world, people):
    plain = call("device.find", {"owner": "bob"}).output["items"][0]
    assert plain["owner"] == people["bob"].pk and plain["os_version"] == "14.4.1" and "groups" not in plain
    full = call("device.find", {"group": "Laptops", "include": ["groups", "owner"]}).output["items"][0]
    assert full["groups"] == [{"id": world["laptops"].pk, "name": "Laptops"}]
    assert full["owner"]["username"] == "ann"
    got = call("device.get", {"device": "lin-042"}).output
    assert got["hostname"] == "lin-042" and got["owner"]["email"] == "ann@example.com"
    assert got["groups"] == [{"id": world["laptops"].pk, "name": "Laptops"}]
    assert call("device.get", {"device": "nope"}).error == "No device matches 'nope'"


# --- what a role may see -------------------------------------------------------------------------


def test_a_role_scoped_to_a_groups_users_finds_only_them(call, people, administrator, world):
    scoped = role_create(name="Sales desk", based_on=None, actor=administrator)
    role_scope_add(role=scoped, actor=administrator, permission="directory.view_user", user_group=world["sales"])
    assert names(call("user.find", {}, role=scoped)) == ["ann"]
    assert names(call("user.find", {"state": "active"}, role=scoped)) == []
    assert call("user.get", {"user": "ann"}, role=scoped).status == "succeeded"
    refused = call("user.get", {"user": "bob"}, role=scoped)
    assert refused.error == "run-as role Sales desk may not look up user bob@example.com"


def test_a_role_with_an_object_permission_finds_only_that_device(call, fleet, administrator):
    scoped = role_create(name="Mac desk", based_on=None, actor=administrator)
    assign_perm("directory.view_device", scoped.group, fleet["mac1"])
    assert names(call("device.find", {}, role=scoped)) == ["mac-1"]
    assert call("device.get", {"device": "mac-2"}, role=scoped).error == (
        "run-as role Mac desk may not look up device mac-2"
    )


def test_a_role_that_lost_the_view_permission_is_refused(administrator, admin_role, people):
    from executions.tasks import run_execution
    from workflows.services import workflow_create, workflow_run

    custom = role_create(name="Viewer", based_on=AdminRole.objects.get(key="read-only"), actor=administrator)
    workflow = workflow_create(
        name="find",
        definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"find": {"call": "user.find", "with": {}}}]},
        run_as=custom,
        actor=administrator,
    )
    codes = {f"directory.view_{m}" for m in ("usergroup", "device", "devicegroup")}
    role_set_permissions(role=custom, actor=administrator, permissions=codes)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    assert run_execution(execution.pk, heartbeat=False) == "failed"
    assert execution.steps.get().error == "run-as role Viewer may not look up users"
