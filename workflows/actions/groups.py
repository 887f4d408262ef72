"""Group membership actions."""

from __future__ import annotations

from typing import Any

from directory import services
from workflows.actions.base import DATABASE, Action, ActionContext
from workflows.actions.registry import register
from workflows.actions.resolvers import reference_schema, resolve

_MEMBERSHIP_PARAMS = {
    "type": "object",
    "required": ["user", "group"],
    "properties": {"user": reference_schema("user"), "group": reference_schema("group")},
    "additionalProperties": False,
}
_MEMBERSHIP_OUTPUT = {
    "type": "object",
    "properties": {
        "user_id": {"type": "integer"},
        "group_id": {"type": "integer"},
        "group": {"type": "string"},
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
