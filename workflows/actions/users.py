"""User actions: create, delete, activate, suspend, update, lock, unlock, expire the password,
reset MFA, set the manager, and leave every group."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from directory import services
from directory.choices import EmployeeType, UserState
from directory.models import User, UserGroup
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError
from workflows.actions.items import USER_FIELDS_SCHEMA, user_item
from workflows.actions.params import CheckedAction, field, ref
from workflows.actions.registry import register
from workflows.actions.resolvers import resolve

USER_OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer", "description": "The user's id"},
        "username": {"type": "string"},
        "email": {"type": "string"},
        "state": {"type": "string", "enum": list(UserState.values)},
        "changed": {"type": "boolean", "description": "False when the user already was as asked"},
    },
}

_USER_PARAM = ref("user", "User", "The user: their id, username or email.")
_ONE_USER = {"type": "object", "required": ["user"], "properties": {"user": _USER_PARAM}, "additionalProperties": False}


def user_output(user: Any, changed: bool) -> dict[str, Any]:
    return {"id": user.pk, "username": user.username, "email": user.email, "state": user.state, "changed": changed}


def validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return "; ".join(exc.messages)


class _UserStateAction(Action):
    category = "Users"
    params_schema = _ONE_USER
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


_UPDATABLE: dict[str, Any] = {
    "first_name": field("string", "First name", "Given name.", maxLength=150),
    "last_name": field("string", "Last name", "Family name.", maxLength=150),
    "department": field("string", "Department", "Department, as the directory spells it.", maxLength=150),
    "job_title": field("string", "Job title", "Job title.", maxLength=150),
    "employee_type": field(
        "string",
        "Employee type",
        "Employee, contractor, intern, vendor or service account.",
        enum=list(EmployeeType.values),
    ),
    "location": field("string", "Location", "Office or city.", maxLength=150),
    "employee_id": field("string", "Employee id", "The HR system's id.", maxLength=64),
    "manager": ref("user", "Manager", "The manager: a user id, username or email."),
    "hire_date": field(["string", "null"], "Hire date", "ISO date (2026-03-01), or null.", format="date"),
    "termination_date": field(["string", "null"], "Termination date", "ISO date (2026-03-01), or null.", format="date"),
    "mfa_enrolled": field("boolean", "MFA enrolled", "Whether the user has an MFA factor enrolled."),
    "attributes": field("object", "Custom attributes", "Custom attributes to set; a null value removes the attribute."),
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
        "properties": {"user": _USER_PARAM, **_UPDATABLE},
        "additionalProperties": False,
        "minProperties": 2,
    }
    output_schema = {
        "type": "object",
        "properties": {
            **USER_OUTPUT_SCHEMA["properties"],
            "changes": {"type": "array", "items": {"type": "string"}, "description": "The fields that changed"},
        },
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


@register
class UserCreate(CheckedAction):
    key = "user.create"
    label = "Create user"
    category = "Users"
    description = (
        "Add a person to the directory, staged unless a state is given (activating at once also needs "
        "the right to activate users). Fails if the username or email is taken."
    )
    params_schema = {
        "type": "object",
        "required": ["username", "email"],
        "properties": {
            "username": field("string", "Username", "Unique sign-in name.", minLength=1, maxLength=150),
            "email": field("string", "Email", "Unique email address.", format="email", minLength=3, maxLength=254),
            "state": field("string", "State", "staged (default), active or suspended.", enum=list(UserState.values)),
            **_UPDATABLE,
        },
        "additionalProperties": False,
    }
    output_schema = {"type": "object", "properties": USER_FIELDS_SCHEMA}
    permissions = ("directory.add_user",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        ctx.require("directory.add_user", verb="create", noun="users")
        fields = dict(params)
        if fields.get("state", UserState.STAGED) != UserState.STAGED:
            ctx.require("directory.change_user_state", verb=f"create {fields['state']}", noun="users")
        if fields.get("manager") not in (None, ""):
            fields["manager"] = resolve("user", fields["manager"])
        try:
            user = services.user_create(actor=ctx.actor, **fields)
        except ValidationError as exc:
            raise ActionError(validation_message(exc)) from exc
        return user_item(user)


@register
class UserDelete(CheckedAction):
    key = "user.delete"
    label = "Delete user"
    category = "Users"
    description = (
        "Delete a user from the directory. Their devices stay, without an owner; the user.deleted event "
        "keeps a snapshot with their groups and devices."
    )
    params_schema = _ONE_USER
    output_schema = {
        "type": "object",
        "properties": {
            "id": {"type": "integer", "description": "The id the user had"},
            "username": {"type": "string"},
            "email": {"type": "string"},
            "deleted": {"type": "boolean", "description": "Always true"},
        },
    }
    permissions = ("directory.delete_user",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        ctx.require("directory.delete_user", user, verb="delete", noun="user")
        output = {"id": user.pk, "username": user.username, "email": user.email, "deleted": True}
        services.user_delete(user=user, actor=ctx.actor)
        return output


def _flag_output(flag: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {**USER_OUTPUT_SCHEMA["properties"], flag: {"type": "boolean", "description": description}},
    }


class _UserFlagAction(CheckedAction):
    """Sets one account flag through its service (lock, unlock, expire the password, reset MFA)."""

    category = "Users"
    params_schema = _ONE_USER
    permissions = ("directory.change_user",)
    flag = ""
    verb = ""

    @staticmethod
    def service(*, user: User, actor: Any) -> User:
        raise NotImplementedError

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        ctx.require("directory.change_user", user, verb=self.verb, noun="user")
        before = getattr(user, self.flag)
        user = type(self).service(user=user, actor=ctx.actor)
        output = user_output(user, changed=getattr(user, self.flag) != before)
        output[self.flag] = getattr(user, self.flag)
        return output


@register
class UserLock(_UserFlagAction):
    key = "user.lock"
    label = "Lock user account"
    description = "Lock a user's account: sign-in is refused until it is unlocked. A locked account is left as is."
    output_schema = _flag_output("account_locked", "True: the account is locked")
    flag = "account_locked"
    verb = "lock"
    service = staticmethod(services.user_lock)


@register
class UserUnlock(_UserFlagAction):
    key = "user.unlock"
    label = "Unlock user account"
    description = "Unlock a user's account. An unlocked account is left as is."
    output_schema = _flag_output("account_locked", "False: the account is unlocked")
    flag = "account_locked"
    verb = "unlock"
    service = staticmethod(services.user_unlock)


@register
class UserExpirePassword(_UserFlagAction):
    key = "user.expire_password"
    label = "Expire user password"
    description = "Mark a user's password expired: they must choose a new one at next sign-in."
    output_schema = _flag_output("password_expired", "True: the password is expired")
    flag = "password_expired"
    verb = "expire the password of"
    service = staticmethod(services.user_expire_password)


@register
class UserResetMfa(_UserFlagAction):
    key = "user.reset_mfa"
    label = "Reset user MFA"
    description = "Clear a user's MFA enrolment: they must enrol a factor again at next sign-in."
    output_schema = _flag_output("mfa_enrolled", "False: the user has no MFA factor enrolled")
    flag = "mfa_enrolled"
    verb = "reset MFA of"
    service = staticmethod(services.user_reset_mfa)


_PERSON = {
    "type": ["object", "null"],
    "properties": {"id": {"type": "integer"}, "username": {"type": "string"}, "email": {"type": "string"}},
}


def _person(user: User | None) -> dict[str, Any] | None:
    return {"id": user.pk, "username": user.username, "email": user.email} if user is not None else None


@register
class UserSetManager(CheckedAction):
    key = "user.set_manager"
    label = "Set user's manager"
    category = "Users"
    description = "Set or clear who a user reports to. A reporting chain that would loop is refused."
    params_schema = {
        "type": "object",
        "required": ["user", "manager"],
        "properties": {
            "user": _USER_PARAM,
            "manager": {
                **ref("user", "Manager", "The new manager (id, username or email); null or empty clears it."),
                "oneOf": [
                    {"type": "integer", "minimum": 1},
                    {"type": "string"},
                    {"type": "null"},
                ],
            },
        },
        "additionalProperties": False,
    }
    output_schema = {
        "type": "object",
        "properties": {
            **USER_OUTPUT_SCHEMA["properties"],
            "manager": {**_PERSON, "description": "The manager now (id, username, email), or null"},
            "previous_manager": {**_PERSON, "description": "The manager before, or null"},
        },
    }
    permissions = ("directory.change_user",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        ctx.require("directory.change_user", user, verb="set the manager of", noun="user")
        value = params["manager"]
        manager = resolve("user", value) if value not in (None, "") else None
        previous = user.manager
        try:
            user = services.user_set_manager(user=user, manager=manager, actor=ctx.actor, locked=True)
        except ValidationError as exc:
            raise ActionError(validation_message(exc)) from exc
        output = user_output(user, changed=(previous.pk if previous else None) != user.manager_id)
        output.update(manager=_person(manager), previous_manager=_person(previous))
        return output


@register
class UserRemoveFromAllGroups(CheckedAction):
    key = "user.remove_from_all_groups"
    label = "Remove user from all groups"
    category = "Users"
    description = (
        "Take a user out of every user group (offboarding). The output lists the groups they left, so a "
        "later step (or a re-activation workflow) can add them back."
    )
    params_schema = _ONE_USER
    output_schema = {
        "type": "object",
        "properties": {
            "user_id": {"type": "integer"},
            "username": {"type": "string"},
            "email": {"type": "string"},
            "groups": {
                "type": "array",
                "items": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}},
                "description": "The groups the user left (id, name), by name",
            },
            "count": {"type": "integer", "description": "How many groups the user left"},
        },
    }
    permissions = ("directory.change_usergroup",)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        user = resolve("user", params["user"], lock=True)
        # Every group is checked before any is left: a role scoped to some groups changes nothing.
        checked = set()
        for group in UserGroup.objects.filter(members=user).order_by("name"):
            ctx.require("directory.change_usergroup", group, verb=f"remove {user} from", noun="group")
            checked.add(group.pk)
        left = services.user_remove_from_all_groups(user=user, actor=ctx.actor)
        unchecked = [g.name for g in left if g.pk not in checked]
        if unchecked:  # joined meanwhile: checked by no one, so the step rolls back
            raise ActionError(f"{user} joined {', '.join(unchecked)} meanwhile; run the step again", retryable=True)
        groups = [{"id": g.pk, "name": g.name} for g in left]
        output = {"user_id": user.pk, "username": user.username, "email": user.email}
        return {**output, "groups": groups, "count": len(groups)}
