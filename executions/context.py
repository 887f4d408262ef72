"""The names an execution's expressions see: input, event, workflow, execution, steps.

The event context resolves the objects an event names into plain data (a user with its
groups and devices, a device with its groups and owner), read when the execution starts so
conditions see the directory as it is; objects that no longer exist fall back to the
event's snapshot.
"""

from __future__ import annotations

from typing import Any

from directory.choices import ResourceType
from directory.models import CommandRun, Device, DeviceGroup, DirectoryEvent, Policy, User, UserGroup
from directory.snapshots import snapshot


def user_data(user: User) -> dict[str, Any]:
    """A user as plain data, with its groups and devices."""
    data = snapshot(user)
    data["display_name"] = user.display_name
    data["groups"] = [{"id": g.pk, "name": g.name} for g in user.groups.all()]
    data["devices"] = [snapshot(d) for d in user.devices.all()]
    return data


def device_data(device: Device) -> dict[str, Any]:
    """A device as plain data, with its groups and owner."""
    data = snapshot(device)
    data["groups"] = [{"id": g.pk, "name": g.name} for g in device.device_groups.all()]
    data["owner"] = snapshot(device.owner) if device.owner_id else None
    return data


def group_data(group: UserGroup) -> dict[str, Any]:
    data = snapshot(group)
    data["member_count"] = group.members.count()
    return data


def device_group_data(group: DeviceGroup) -> dict[str, Any]:
    return snapshot(group)


def policy_data(policy: Policy) -> dict[str, Any]:
    return snapshot(policy)


def command_run_data(run: CommandRun) -> dict[str, Any]:
    data = snapshot(run)
    data["command_name"] = run.command.name
    data["device_hostname"] = run.device.hostname
    return data


# resource type -> (context key, model, plain-data builder)
_RESOLVERS: dict[str, tuple[str, type, Any]] = {
    ResourceType.USER: ("user", User, user_data),
    ResourceType.USER_GROUP: ("group", UserGroup, group_data),
    ResourceType.DEVICE: ("device", Device, device_data),
    ResourceType.DEVICE_GROUP: ("device_group", DeviceGroup, device_group_data),
    ResourceType.POLICY: ("policy", Policy, policy_data),
    ResourceType.COMMAND_RUN: ("command_run", CommandRun, command_run_data),
}

# Names each resolved object carries besides its model fields (for the catalogue).
EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "user": ("id", "display_name", "groups", "devices"),
    "group": ("id", "member_count"),
    "device": ("id", "groups", "owner"),
    "device_group": ("id",),
    "policy": ("id",),
    "command_run": ("id", "command_name", "device_hostname"),
    "command": ("id", "name"),
}
CONTEXT_MODELS: dict[str, type] = {key: model for key, model, _ in _RESOLVERS.values()}


def _resolve(resource_type: str, object_id: str, fallback: dict[str, Any] | None) -> tuple[str, Any] | None:
    entry = _RESOLVERS.get(resource_type)
    if entry is None or not object_id:
        return None
    key, model, builder = entry
    obj = model.objects.filter(pk=object_id).first()
    if obj is not None:
        return key, builder(obj)
    return key, fallback


def event_context(event: DirectoryEvent) -> dict[str, Any]:
    """The ``event`` name in expressions for an execution started by ``event``."""
    data: dict[str, Any] = {
        "type": event.type,
        "id": event.pk,
        "occurred_at": event.occurred_at.isoformat(),
        "actor": event.actor,
        "resource": {"type": event.resource_type, "id": event.resource_id, "name": event.resource_name},
        "related": {"type": event.related_type, "id": event.related_id, "name": event.related_name}
        if event.related_type
        else None,
        "changes": event.changes,
        "depth": event.depth,
        "snapshot": event.snapshot,
    }
    snap = event.snapshot or {}
    owner_key = _RESOLVERS.get(event.resource_type, ("",))[0]
    main_fallback = snap.get(owner_key, snap) if event.related_type else snap
    for resource_type, object_id, fallback in (
        (event.resource_type, event.resource_id, main_fallback),
        (event.related_type, event.related_id, snap.get(_RESOLVERS.get(event.related_type, ("",))[0])),
    ):
        resolved = _resolve(resource_type, object_id, fallback)
        if resolved is not None:
            data[resolved[0]] = resolved[1]
    if event.resource_type == ResourceType.COMMAND_RUN:
        run = data.get("command_run") or snap
        data["command"] = {"id": run.get("command"), "name": run.get("command_name", "")}
    return data


def base_scope(execution: Any) -> dict[str, Any]:
    """The scope an execution starts with (``steps`` fills as tasks run)."""
    workflow = execution.workflow
    scope: dict[str, Any] = {
        "input": execution.input or {},
        "workflow": {"id": workflow.pk, "name": workflow.name, "type": workflow.type},
        "execution": {
            "id": execution.pk,
            "trigger_kind": execution.trigger_kind,
            "queued_at": execution.queued_at.isoformat() if execution.queued_at else None,
            "slot_at": execution.slot_at.isoformat() if execution.slot_at else None,
            "version": execution.version.number,
        },
        "steps": {},
        "event": event_context(execution.event) if execution.event_id else {},
    }
    return scope
