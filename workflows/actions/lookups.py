"""Lookups: read users, groups' members and devices for later steps ("inactive users", "devices
out of compliance" on a schedule). Read-only, still checked against the run-as role.

A role holding the view permission on the model sees everything. A role holding it only on some
objects (guardian object permissions, or member scopes such as "view the users of Sales") gets
the results filtered to those objects — one subquery, no per-row check. A role with neither is
refused. Lists are capped (``limit``, at most 1000) and paged (``offset``; ``total`` and
``has_more`` say whether to ask again).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from directory import selectors
from directory.choices import EmployeeType, OSFamily, UserState
from directory.models import Device, User
from workflows.actions.base import ActionContext, PermissionDenied
from workflows.actions.items import (
    DEVICE_ITEM_SCHEMA,
    DEVICE_RELATIONS,
    USER_ITEM_SCHEMA,
    USER_RELATIONS,
    device_item,
    include_schema,
    user_item,
    with_relations,
)
from workflows.actions.params import (
    DEFAULT_LIMIT,
    PAGING_PARAMS,
    CheckedAction,
    date_filter,
    field,
    list_output,
    list_output_schema,
    one_or_many,
    ref,
    to_date_filter,
)
from workflows.actions.registry import register
from workflows.actions.resolvers import resolve
from workflows.permissions import principal_has_perm


def visible_filter(ctx: ActionContext, perm: str, model: type, noun: str) -> Q:
    """What the run-as role may see of ``model``: everything (model permission), the objects its
    scopes name, or nothing (refused)."""
    if principal_has_perm(ctx.principal, perm, known=ctx.known_perms):
        return Q()
    scoped = selectors.scoped_visible(ctx.principal, perm, model)
    if scoped is None:
        raise PermissionDenied(f"run-as role {ctx.role_name} may not look up {noun}")
    return scoped


def _page(params: dict[str, Any]) -> tuple[int, int]:
    return params.get("offset", 0), params.get("limit", DEFAULT_LIMIT)


# --- users -------------------------------------------------------------------------------------

_USER_INCLUDE = include_schema(USER_RELATIONS, "user")
_STATE = {"type": "string", "enum": list(UserState.values)}


@register
class UserGet(CheckedAction):
    key = "user.get"
    label = "Get user"
    category = "Lookups"
    description = "Read one user, with their groups and devices, for later steps. Fails if there is no such user."
    params_schema = {
        "type": "object",
        "required": ["user"],
        "properties": {"user": ref("user", "User", "The user: their id, username or email.")},
        "additionalProperties": False,
    }
    output_schema = USER_ITEM_SCHEMA
    permissions = ("directory.view_user",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"])
        ctx.require("directory.view_user", user, verb="look up", noun="user")
        return user_item(user, USER_RELATIONS)


@register
class UserFind(CheckedAction):
    key = "user.find"
    label = "Find users"
    category = "Lookups"
    description = (
        "List the users matching every filter given (none: all users), by username, a page at a time: "
        "inactive accounts, leavers, people without MFA."
    )
    params_schema = {
        "type": "object",
        "properties": {
            "email": field("string", "Email", "Exactly this email address (any case).", minLength=1),
            "username": field("string", "Username", "Exactly this username (any case).", minLength=1),
            "department": one_or_many({"type": "string"}, "Department", "In this department, or any of these."),
            "state": one_or_many(_STATE, "State", "staged, active or suspended, or a list of them."),
            "employee_type": one_or_many(
                {"type": "string", "enum": list(EmployeeType.values)}, "Employee type", "This type, or any of these."
            ),
            "group": ref("group", "Member of group", "Only members of this user group (id or name)."),
            "manager": ref("user", "Reports to", "Only direct reports of this user (id, username or email)."),
            "attributes": field(
                "object",
                "Custom attributes",
                'Custom attributes that must equal these values ({"cost_center": "42"}); null: absent.',
                maxProperties=20,
            ),
            "last_login_at": date_filter("Last sign-in", "When the user last signed in."),
            "hire_date": date_filter("Hire date", "The user's hire date."),
            "termination_date": date_filter("Termination date", "The user's termination date."),
            "mfa_enrolled": field("boolean", "MFA enrolled", "True: only users with MFA; false: only users without."),
            "include": _USER_INCLUDE,
            **PAGING_PARAMS,
        },
        "additionalProperties": False,
    }
    output_schema = list_output_schema(USER_ITEM_SCHEMA, "users")
    permissions = ("directory.view_user",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        visible = visible_filter(ctx, "directory.view_user", User, "users")
        rows = selectors.users_find(
            email=params.get("email"),
            username=params.get("username"),
            department=params.get("department"),
            state=params.get("state"),
            employee_type=params.get("employee_type"),
            group=resolve("group", params["group"]) if params.get("group") is not None else None,
            manager=resolve("user", params["manager"]) if params.get("manager") is not None else None,
            attributes=params.get("attributes"),
            last_login_at=to_date_filter(params.get("last_login_at"), "with.last_login_at"),
            hire_date=to_date_filter(params.get("hire_date"), "with.hire_date"),
            termination_date=to_date_filter(params.get("termination_date"), "with.termination_date"),
            mfa_enrolled=params.get("mfa_enrolled"),
        ).filter(visible)
        return _user_page(rows, params)


def _user_page(rows: QuerySet, params: dict[str, Any]) -> dict[str, Any]:
    include = params.get("include", [])
    offset, limit = _page(params)
    selection = selectors.Selection(with_relations(rows, include))
    items = [user_item(user, include) for user in selection.page(offset, limit)]
    return list_output(items, selection.total(), offset)


@register
class UserGroupMembers(CheckedAction):
    key = "user_group.members"
    label = "List group members"
    category = "Lookups"
    description = "List the members of a user group, by username, a page at a time."
    params_schema = {
        "type": "object",
        "required": ["group"],
        "properties": {
            "group": ref("group", "Group", "The user group: its id or name."),
            "state": one_or_many(_STATE, "State", "Only members in this state (or any of these)."),
            "include": _USER_INCLUDE,
            **PAGING_PARAMS,
        },
        "additionalProperties": False,
    }
    output_schema = {
        "type": "object",
        "properties": {
            **list_output_schema(USER_ITEM_SCHEMA, "members")["properties"],
            "group": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
                "description": "The group listed",
            },
        },
    }
    permissions = ("directory.view_usergroup", "directory.view_user")

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        group = resolve("group", params["group"])
        ctx.require("directory.view_usergroup", group, verb="look up", noun="group")
        visible = visible_filter(ctx, "directory.view_user", User, "users")
        rows = selectors.users_find(group=group, state=params.get("state")).filter(visible)
        return {**_user_page(rows, params), "group": {"id": group.pk, "name": group.name}}


# --- devices -----------------------------------------------------------------------------------

_VERSION_RANGE = {
    "type": "object",
    "properties": {
        "below": field("string", "Below", "Versions lower than this one (14.4 → 14.3.1, 13.6…).", minLength=1),
        "at_least": field("string", "At least", "Versions equal to or higher than this one.", minLength=1),
    },
    "additionalProperties": False,
    "minProperties": 1,
}


@register
class DeviceGet(CheckedAction):
    key = "device.get"
    label = "Get device"
    category = "Lookups"
    description = "Read one device, with its groups and owner, for later steps. Fails if there is no such device."
    params_schema = {
        "type": "object",
        "required": ["device"],
        "properties": {"device": ref("device", "Device", "The device: its id or hostname.")},
        "additionalProperties": False,
    }
    output_schema = DEVICE_ITEM_SCHEMA
    permissions = ("directory.view_device",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        device = resolve("device", params["device"])
        ctx.require("directory.view_device", device, verb="look up", noun="device")
        return device_item(device, DEVICE_RELATIONS)


@register
class DeviceFind(CheckedAction):
    key = "device.find"
    label = "Find devices"
    category = "Lookups"
    description = (
        "List the devices matching every filter given (none: all devices), by hostname, a page at a time: "
        "unencrypted disks, old OS versions, devices silent for weeks."
    )
    params_schema = {
        "type": "object",
        "properties": {
            "owner": ref("user", "Owner", "Only devices this user owns (id, username or email)."),
            "group": ref("device_group", "In device group", "Only members of this device group (id or name)."),
            "os_family": one_or_many(
                {"type": "string", "enum": list(OSFamily.values)}, "OS family", "This OS family, or any of these."
            ),
            "os_version": {
                "title": "OS version",
                "description": 'Exactly this version ("14.4.1"), or a range: {"below": "14.4"}, {"at_least": "13"} '
                "(compared number by number; a device without a version matches no range).",
                "oneOf": [{"type": "string", "minLength": 1}, _VERSION_RANGE],
            },
            "last_contact_at": date_filter("Last contact", "When the device's agent last called in."),
            "disk_encrypted": field("boolean", "Disk encrypted", "True: only encrypted; false: only unencrypted."),
            "firewall_enabled": field("boolean", "Firewall enabled", "True: only with the firewall on; false: off."),
            "locked": field("boolean", "Locked", "True: only locked devices; false: only unlocked ones."),
            "active": field("boolean", "Active", "True: only managed devices; false: only retired ones."),
            "include": include_schema(DEVICE_RELATIONS, "device"),
            **PAGING_PARAMS,
        },
        "additionalProperties": False,
    }
    output_schema = list_output_schema(DEVICE_ITEM_SCHEMA, "devices")
    permissions = ("directory.view_device",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        visible = visible_filter(ctx, "directory.view_device", Device, "devices")
        version = params.get("os_version")
        if isinstance(version, dict):
            version = selectors.VersionRange(below=version.get("below"), at_least=version.get("at_least"))
        include = params.get("include", [])
        selection = selectors.devices_find(
            owner=resolve("user", params["owner"]) if params.get("owner") is not None else None,
            group=resolve("device_group", params["group"]) if params.get("group") is not None else None,
            os_family=params.get("os_family"),
            os_version=version,
            last_contact_at=to_date_filter(params.get("last_contact_at"), "with.last_contact_at"),
            disk_encrypted=params.get("disk_encrypted"),
            firewall_enabled=params.get("firewall_enabled"),
            locked=params.get("locked"),
            active=params.get("active"),
            base=with_relations(Device.objects.filter(visible), include),
        )
        offset, limit = _page(params)
        items = [device_item(device, include) for device in selection.page(offset, limit)]
        return list_output(items, selection.total(), offset)
