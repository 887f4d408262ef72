"""User actions: activate, suspend, update."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from directory import services
from directory.choices import EmployeeType
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError
from workflows.actions.registry import register
from workflows.actions.resolvers import reference_schema, resolve

USER_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "state": {"type": "string"},
        "changed": {"type": "boolean", "description": "False when the user already was as asked"},
    },
}


def user_output(user: Any, changed: bool) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username, "email": user.email, "state": user.state, "changed": changed}


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


class _UserStateAction(Action):
    category = "Users"
    params_schema = {
        "type": "object",
        "required": ["user"],
        "properties": {"user": reference_schema("user")},
        "additionalProperties": False,
    }
    output_schema = USER_OUTPUT_SCHEMA
    effect = DATABASE
    permissions = ("directory.change_user_state",)
    target_state = ""
    verb = ""

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        ctx.require("directory.change_user_state", user, verb=self.verb, noun="user")
        before = user.state
        try:
            service = services.user_activate if self.target_state == "active" else services.user_suspend
            user = service(user=user, actor=ctx.actor, locked=True)
        except ValidationError as exc:
            raise ActionError(validation_message(exc)) from exc
        return user_output(user, changed=before != user.state)


@register
class UserActivate(_UserStateAction):
    key = "user.activate"
    label = "Activate user"
    description = "Make a staged or suspended user active. An active user is left as is."
    target_state = "active"
    verb = "activate"


@register
class UserSuspend(_UserStateAction):
    key = "user.suspend"
    label = "Suspend user"
    description = "Suspend a user: they can no longer sign in. A suspended user is left as is."
    target_state = "suspended"
    verb = "suspend"


_UPDATABLE = {
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "department": {"type": "string"},
    "job_title": {"type": "string"},
    "employee_type": {"type": "string", "enum": list(EmployeeType.values)},
    "location": {"type": "string"},
    "employee_id": {"type": "string"},
    "manager": {**reference_schema("user"), "description": "The manager: a user id, username or email"},
    "hire_date": {"type": ["string", "null"], "format": "date"},
    "termination_date": {"type": ["string", "null"], "format": "date"},
    "mfa_enrolled": {"type": "boolean"},
    "attributes": {
        "type": "object",
        "description": "Custom attributes to set; a null value removes the attribute",
    },
}


@register
class UserUpdate(Action):
    key = "user.update"
    label = "Update user"
    category = "Users"
    description = "Change a user's attributes (the API's field names) and custom attributes."
    params_schema = {
        "type": "object",
        "required": ["user"],
        "properties": {"user": reference_schema("user"), **_UPDATABLE},
        "additionalProperties": False,
        "minProperties": 2,
    }
    output_schema = {
        "type": "object",
        "properties": {**USER_OUTPUT_SCHEMA["properties"], "changes": {"type": "array"}},
    }
    effect = DATABASE
    permissions = ("directory.change_user",)

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        ctx.require("directory.change_user", user, verb="update", noun="user")
        fields = {k: v for k, v in params.items() if k != "user"}
        if "manager" in fields and fields["manager"] not in (None, ""):
            fields["manager"] = resolve("user", fields["manager"])
        before = {k: getattr(user, k) for k in fields if k != "attributes"}
        try:
            user = services.user_update(user=user, actor=ctx.actor, locked=True, **fields)
        except ValidationError as exc:
            raise ActionError(validation_message(exc)) from exc
        changes = [k for k, v in before.items() if getattr(user, k) != v]
        output = user_output(user, changed=bool(changes) or "attributes" in fields)
        output["changes"] = changes + (["attributes"] if "attributes" in fields else [])
        return output
