"""The catalogue of directory event types, registered in one place.

The validator checks a trigger's ``event`` against this registry, the API lists it, and the
builder shows its descriptions. Adding an event type is adding one ``register`` call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from directory.choices import ResourceType


@dataclass(frozen=True)
class EventType:
    """A kind of directory change a workflow can start on."""

    key: str
    resource_type: str
    description: str
    # Names available under ``event.`` in expressions besides the common ones.
    context: tuple[str, ...] = field(default_factory=tuple)


COMMON_CONTEXT = ("type", "id", "occurred_at", "actor", "resource", "changes", "depth")

EVENT_TYPES: dict[str, EventType] = {}


def register(key: str, resource_type: str, description: str, context: tuple[str, ...]) -> EventType:
    if key in EVENT_TYPES:
        raise ValueError(f"Event type {key} is registered twice")
    event_type = EventType(key=key, resource_type=resource_type, description=description, context=context)
    EVENT_TYPES[key] = event_type
    return event_type


def get_event_type(key: str) -> EventType:
    """Return the registered event type or raise ``KeyError`` with the known keys."""
    try:
        return EVENT_TYPES[key]
    except KeyError:
        raise KeyError(f"Unknown event type {key!r}") from None


_U, _G, _D, _DG, _P, _C = (
    ResourceType.USER,
    ResourceType.USER_GROUP,
    ResourceType.DEVICE,
    ResourceType.DEVICE_GROUP,
    ResourceType.POLICY,
    ResourceType.COMMAND_RUN,
)
_USER = ("user",)
_MEMBER = ("group", "user")
_DEVICE = ("device",)

register("user.created", _U, "A user was added to the directory (in any state).", _USER)
register(
    "user.updated",
    _U,
    "A user's attributes changed. State, lock and password-expiry changes have their own events "
    "and appear here only when other attributes changed in the same save.",
    _USER,
)
register("user.activated", _U, "A staged or suspended user became active.", _USER)
register("user.suspended", _U, "A user was suspended.", _USER)
register("user.deleted", _U, "A user was deleted; the event keeps a snapshot of the user.", _USER)
register("user.locked", _U, "A user's account was locked.", _USER)
register("user.unlocked", _U, "A user's account was unlocked.", _USER)
register("user.password_expired", _U, "A user's password was marked expired.", _USER)
register("user.mfa_reset", _U, "A user's MFA enrolment was reset: they must enrol a factor again.", _USER)
register("user_group.created", _G, "A user group was created.", ("group",))
register("user_group.deleted", _G, "A user group was deleted.", ("group",))
register("user_group.member_added", _G, "A user joined a user group.", _MEMBER)
register("user_group.member_removed", _G, "A user left a user group.", _MEMBER)
register("device.created", _D, "A device was enrolled.", _DEVICE)
register("device.updated", _D, "A device's attributes changed.", _DEVICE)
register("device.deleted", _D, "A device was removed; the event keeps a snapshot.", _DEVICE)
register(
    "device.agent_enrolment_created",
    _D,
    "An admin created a one-use enrolment token for the device's agent (the token itself is not kept).",
    _DEVICE,
)
register("device.agent_enrolled", _D, "The device's agent enrolled and received its own token.", _DEVICE)
register("device.agent_revoked", _D, "The device's agent or enrolment tokens were revoked.", _DEVICE)
register("device_group.member_added", _DG, "A device joined a device group.", ("device_group", "device"))
register("device_group.member_removed", _DG, "A device left a device group.", ("device_group", "device"))
register(
    "policy.bound",
    _P,
    "A policy was bound to a device or device group.",
    ("policy", "device", "device_group"),
)
register(
    "policy.unbound",
    _P,
    "A policy was unbound from a device or device group.",
    ("policy", "device", "device_group"),
)
register(
    "command.finished",
    _C,
    "A command run on a device finished (succeeded, failed or timed out).",
    ("command_run", "command", "device"),
)

# Who gave whom which access: changes to admin roles and admin accounts, with their actor.
_R, _A = ResourceType.ADMIN_ROLE, ResourceType.ADMIN_ACCOUNT
register("admin_role.created", _R, "A custom admin role was created (the snapshot lists its permissions).", ())
register("admin_role.updated", _R, "A custom admin role's name or description changed.", ())
register("admin_role.permission_granted", _R, "A custom admin role was given a permission everywhere.", ())
register("admin_role.permission_revoked", _R, "A custom admin role lost a permission.", ())
register("admin_role.scope_added", _R, "A custom admin role was given a permission on some objects only.", ())
register("admin_role.scope_removed", _R, "A custom admin role lost a permission on some objects.", ())
register("admin_role.deleted", _R, "A custom admin role was deleted; the event keeps a snapshot.", ())
register("admin_account.created", _A, "An admin account was created.", ())
register("admin_account.updated", _A, "An admin account's name, email or access flags changed.", ())
register("admin_account.role_changed", _A, "An admin account was given another role, or none.", ())
register("admin_account.password_changed", _A, "An admin account's password was set, or password sign-in disabled.", ())
register("admin_account.deleted", _A, "An admin account was deleted; the event keeps a snapshot.", ())
