"""Group actions: user group membership, creating user groups, device group membership."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from directory import services
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError
from workflows.actions.params import CheckedAction, field, ref
from workflows.actions.registry import register
from workflows.actions.resolvers import resolve
from workflows.actions.users import validation_message

_MEMBERSHIP_PARAMS = {
    "type": "object",
    "required": ["user", "group"],
    "properties": {
        "user": ref("user", "User", "The user: their id, username or email."),
        "group": ref("group", "Group", "The user group: its id or name."),
    },
    "additionalProperties": False,
}
_MEMBERSHIP_OUTPUT = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer"},
        "group_id": {"type": "integer"},
        "group": {"type": "string", "description": "The group's name"},
        "changed": {"type": "boolean", "description": "False when membership already was as asked"},
    },
}


@register
class UserAddToGroup(Action):
    key = "user.add_to_group"
    label = "Add user to group"
    category = "Groups"
    description = "Add a user to a user group. Already a member: nothing changes."
    params_schema = _MEMBERSHIP_PARAMS
    output_schema = _MEMBERSHIP_OUTPUT
    effect = DATABASE
    permissions = ("directory.change_usergroup",)

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user, group = resolve("user", params["user"]), resolve("group", params["group"])
        ctx.require("directory.change_usergroup", group, verb=f"add {user} to", noun="group")
        changed = services.group_add_member(group=group, user=user, actor=ctx.actor)
        return {"user_id": user.pk, "group_id": group.pk, "group": group.name, "changed": changed}


@register
class UserRemoveFromGroup(Action):
    key = "user.remove_from_group"
    label = "Remove user from group"
    category = "Groups"
    description = "Remove a user from a user group. Not a member: nothing changes."
    params_schema = _MEMBERSHIP_PARAMS
    output_schema = _MEMBERSHIP_OUTPUT
    effect = DATABASE
    permissions = ("directory.change_usergroup",)

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user, group = resolve("user", params["user"]), resolve("group", params["group"])
        ctx.require("directory.change_usergroup", group, verb=f"remove {user} from", noun="group")
        changed = services.group_remove_member(group=group, user=user, actor=ctx.actor)
        return {"user_id": user.pk, "group_id": group.pk, "group": group.name, "changed": changed}


@register
class UserGroupCreate(CheckedAction):
    key = "user_group.create"
    label = "Create user group"
    category = "Groups"
    description = "Create a user group (empty). Fails if a group of that name exists."
    params_schema = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": field("string", "Name", "The group's name, unique in the directory.", minLength=1, maxLength=150),
            "description": field("string", "Description", "What the group is for."),
            "attributes": field("object", "Custom attributes", "Custom attributes of the group (a JSON object)."),
        },
        "additionalProperties": False,
    }
    output_schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "The new group's id"},
            "name": {"type": "string"},
            "description": {"type": "string"},
            "attributes": {"type": "object"},
        },
    }
    permissions = ("directory.add_usergroup",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        ctx.require("directory.add_usergroup", verb="create", noun="user groups")
        try:
            group = services.group_create(actor=ctx.actor, **params)
        except ValidationError as exc:
            raise ActionError(validation_message(exc)) from exc
        return {"id": group.pk, "name": group.name, "description": group.description, "attributes": group.attributes}


_DEVICE_MEMBERSHIP_PARAMS = {
    "type": "object",
    "required": ["device", "device_group"],
    "properties": {
        "device": ref("device", "Device", "The device: its id or hostname."),
        "device_group": ref("device_group", "Device group", "The device group: its id or name."),
    },
    "additionalProperties": False,
}
_DEVICE_MEMBERSHIP_OUTPUT = {
    "type": "object",
    "properties": {
        "device_id": {"type": "integer"},
        "hostname": {"type": "string"},
        "device_group_id": {"type": "integer"},
        "device_group": {"type": "string", "description": "The device group's name"},
        "changed": {"type": "boolean", "description": "False when membership already was as asked"},
    },
}


class _DeviceMembership(CheckedAction):
    category = "Groups"
    params_schema = _DEVICE_MEMBERSHIP_PARAMS
    output_schema = _DEVICE_MEMBERSHIP_OUTPUT
    permissions = ("directory.change_devicegroup",)
    verb = ""

    @staticmethod
    def service(*, device_group: Any, device: Any, actor: Any) -> bool:
        raise NotImplementedError

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        device = resolve("device", params["device"])
        device_group = resolve("device_group", params["device_group"])
        ctx.require("directory.change_devicegroup", device_group, verb=self.verb.format(device), noun="device group")
        changed = type(self).service(device_group=device_group, device=device, actor=ctx.actor)
        return {
            "device_id": device.pk,
            "hostname": device.hostname,
            "device_group_id": device_group.pk,
            "device_group": device_group.name,
            "changed": changed,
        }


@register
class DeviceGroupAddDevice(_DeviceMembership):
    key = "device_group.add_device"
    label = "Add device to device group"
    description = (
        "Add a device to a device group (and so under the policies bound to it). Already a member: nothing changes."
    )
    verb = "add {} to"
    service = staticmethod(services.device_group_add_member)


@register
class DeviceGroupRemoveDevice(_DeviceMembership):
    key = "device_group.remove_device"
    label = "Remove device from device group"
    description = "Remove a device from a device group. Not a member: nothing changes."
    verb = "remove {} from"
    service = staticmethod(services.device_group_remove_member)
