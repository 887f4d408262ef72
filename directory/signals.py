"""Signal receivers that turn directory model changes into events, and nothing more.

Each tracked model remembers the field values it was loaded with; on save the receiver
compares them with the new values and asks the model's event rule which events the change
means. Many-to-many receivers cover membership and policy bindings however they are edited
(services, the admin's widgets, the API). Receivers are connected in ``DirectoryConfig.ready``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save, pre_delete

from directory.choices import CommandRunStatus, ResourceType, UserState
from directory.event_log import PendingEvent, record_events
from directory.models import CommandRun, Device, DeviceGroup, Policy, User, UserGroup
from directory.snapshots import field_values, snapshot

Change = dict[str, Any]
EventRule = Callable[[models.Model, list[Change], dict[str, Any]], list[PendingEvent]]

_LOADED = "_keyflow_loaded_values"


def _remember_loaded(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Keep the values an instance was built with: for a row loaded from the database, its
    stored values (``post_init`` runs before Django marks the instance as not adding, so the
    values are kept for every instance and ``created`` decides on save)."""
    setattr(instance, _LOADED, field_values(instance))


def loaded_values(instance: models.Model) -> dict[str, Any] | None:
    """The field values the instance was loaded (or last saved) with, if known."""
    return getattr(instance, _LOADED, None)


def mark_saved(instances: Iterable[models.Model]) -> None:
    """Remember the current values of instances written without ``save()`` (``bulk_create``), so
    that a later save of the same objects reports only what that save changed."""
    for instance in instances:
        setattr(instance, _LOADED, field_values(instance))


def diff(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Change]:
    """Field-level changes between two value maps, in field order."""
    if before is None:
        return []
    return [
        {"field": name, "from": before[name], "to": value}
        for name, value in after.items()
        if name in before and before[name] != value
    ]


# --- per-model event rules -------------------------------------------------------------------

# A change to one of these user fields is its own event; other fields make ``user.updated``.
_USER_STATE_EVENTS = {UserState.ACTIVE: "user.activated", UserState.SUSPENDED: "user.suspended"}


def _user_specific_event(change: Change) -> str | None:
    name, to = change["field"], change["to"]
    if name == "state":
        return _USER_STATE_EVENTS.get(to)
    if name == "account_locked":
        return "user.locked" if to else "user.unlocked"
    if name == "password_expired" and to:
        return "user.password_expired"
    if name == "mfa_enrolled" and not to:
        return "user.mfa_reset"
    return None


def _user_rule(user: models.Model, changes: list[Change], values: dict[str, Any]) -> list[PendingEvent]:
    """Specific events for state, lock, password expiry and MFA reset; ``user.updated`` for the rest.

    Admins expect one event per meaning: suspending someone is ``user.suspended``, not also a
    ``user.updated`` that would start every "on update" workflow. If the same save also
    changed other attributes, those (only) are reported as ``user.updated``.
    """
    snap = snapshot(user, values)
    events, general = [], []
    for change in changes:
        specific = _user_specific_event(change)
        if specific:
            events.append(PendingEvent(specific, ResourceType.USER, user, changes=[change], snapshot=snap))
        else:
            general.append(change)
    if general:
        events.append(PendingEvent("user.updated", ResourceType.USER, user, changes=general, snapshot=snap))
    return events


def _device_rule(device: models.Model, changes: list[Change], values: dict[str, Any]) -> list[PendingEvent]:
    snap = snapshot(device, values)
    return [PendingEvent("device.updated", ResourceType.DEVICE, device, changes=changes, snapshot=snap)]


def _command_run_rule(run: models.Model, changes: list[Change], values: dict[str, Any]) -> list[PendingEvent]:
    finished = CommandRunStatus.finished()
    for change in changes:
        if change["field"] == "status" and change["to"] in finished and change["from"] not in finished:
            snap = snapshot(run, values)
            snap["command_name"] = run.command.name
            snap["device_hostname"] = run.device.hostname
            return [
                PendingEvent(
                    "command.finished",
                    ResourceType.COMMAND_RUN,
                    run,
                    related_type=ResourceType.DEVICE,
                    related=run.device,
                    changes=changes,
                    snapshot=snap,
                )
            ]
    return []


# model -> (created event type or None, resource type, update rule or None, deleted event type or None)
_TRACKED: dict[type[models.Model], tuple[str | None, str, EventRule | None, str | None]] = {
    User: ("user.created", ResourceType.USER, _user_rule, "user.deleted"),
    UserGroup: ("user_group.created", ResourceType.USER_GROUP, None, "user_group.deleted"),
    Device: ("device.created", ResourceType.DEVICE, _device_rule, "device.deleted"),
    DeviceGroup: (None, ResourceType.DEVICE_GROUP, None, None),
    Policy: (None, ResourceType.POLICY, None, None),
    CommandRun: (None, ResourceType.COMMAND_RUN, _command_run_rule, None),
}


def _on_save(
    sender: type[models.Model], instance: models.Model, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:  # loaddata: fixtures are not changes
        return
    created_type, resource_type, rule, _ = _TRACKED[sender]
    after = field_values(instance)
    before = getattr(instance, _LOADED, None)
    setattr(instance, _LOADED, after)
    if created or before is None:
        if created and created_type:
            record_events([PendingEvent(created_type, resource_type, instance, snapshot=snapshot(instance, after))])
        return
    changes = diff(before, after)
    if changes and rule is not None:
        record_events(rule(instance, changes, after))


_DELETED_EXTRA = "_keyflow_deleted_extra"


def _user_relations(user: Any) -> dict[str, Any]:
    return {
        "groups": [{"id": g.pk, "name": g.name} for g in user.groups.all()],
        "devices": [snapshot(d) for d in user.devices.all()],
    }


def _device_relations(device: Any) -> dict[str, Any]:
    return {"groups": [{"id": g.pk, "name": g.name} for g in device.device_groups.all()]}


# What a deleted object was related to, in the shape the execution context gives live objects.
_RELATIONS_ON_DELETE: dict[type[models.Model], Callable[[Any], dict[str, Any]]] = {
    User: _user_relations,
    Device: _device_relations,
}


def _before_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Read the relations while they still exist: by ``post_delete`` the memberships are gone
    and owned devices have no owner, yet "on user.deleted, wipe their devices" needs them."""
    setattr(instance, _DELETED_EXTRA, _RELATIONS_ON_DELETE[sender](instance))


def _on_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    _, resource_type, _, deleted_type = _TRACKED[sender]
    if deleted_type:
        snap = snapshot(instance)
        snap.update(getattr(instance, _DELETED_EXTRA, {}))
        record_events(
            [
                PendingEvent(
                    deleted_type,
                    resource_type,
                    resource_id=instance.pk,
                    resource_name=str(instance)[:255],
                    snapshot=snap,
                )
            ]
        )


# --- many-to-many: memberships and bindings --------------------------------------------------

# through model -> (owner model, member model, added type, removed type, resource type, related type)
_M2M: dict[Any, tuple[type[models.Model], type[models.Model], str, str, str, str]] = {
    UserGroup.members.through: (
        UserGroup,
        User,
        "user_group.member_added",
        "user_group.member_removed",
        ResourceType.USER_GROUP,
        ResourceType.USER,
    ),
    DeviceGroup.members.through: (
        DeviceGroup,
        Device,
        "device_group.member_added",
        "device_group.member_removed",
        ResourceType.DEVICE_GROUP,
        ResourceType.DEVICE,
    ),
    Policy.devices.through: (
        Policy,
        Device,
        "policy.bound",
        "policy.unbound",
        ResourceType.POLICY,
        ResourceType.DEVICE,
    ),
    Policy.device_groups.through: (
        Policy,
        DeviceGroup,
        "policy.bound",
        "policy.unbound",
        ResourceType.POLICY,
        ResourceType.DEVICE_GROUP,
    ),
}

_PENDING_CLEAR = "_keyflow_pending_clear"


def _membership_events(
    through: Any, instance: models.Model, reverse: bool, pk_set: set[Any], added: bool
) -> list[PendingEvent]:
    owner_model, member_model, added_type, removed_type, resource_type, related_type = _M2M[through]
    if reverse:  # e.g. user.groups.add(group): instance is the member, pk_set the owners
        owners = list(owner_model.objects.filter(pk__in=pk_set))
        pairs = [(owner, instance) for owner in owners]
    else:
        members = list(member_model.objects.filter(pk__in=pk_set))
        pairs = [(instance, member) for member in members]
    event_type = added_type if added else removed_type
    related_key = related_type
    owner_key = {ResourceType.USER_GROUP: "group"}.get(resource_type, resource_type)
    return [
        PendingEvent(
            event_type,
            resource_type,
            owner,
            related_type=related_type,
            related=member,
            changes=[
                {
                    "field": "members" if resource_type != ResourceType.POLICY else f"{related_type}s",
                    "from": None if added else member.pk,
                    "to": member.pk if added else None,
                }
            ],
            snapshot={owner_key: snapshot(owner), related_key: snapshot(member)},
        )
        for owner, member in pairs
    ]


def _on_m2m_changed(
    sender: Any,
    instance: models.Model,
    action: str,
    reverse: bool,
    model: Any,
    pk_set: set[Any] | None,
    **kwargs: Any,
) -> None:
    if action == "pre_clear":
        # Remember who was there; ``post_clear`` has no pk_set.
        name = _m2m_field_name(sender)
        if reverse:
            current = set(_M2M[sender][0].objects.filter(**{name: instance}).values_list("pk", flat=True))
        else:
            current = set(getattr(instance, name).values_list("pk", flat=True))
        setattr(instance, _PENDING_CLEAR, current)
        return
    if action == "post_clear":
        pk_set = getattr(instance, _PENDING_CLEAR, set())
        setattr(instance, _PENDING_CLEAR, set())
        if pk_set:
            record_events(_membership_events(sender, instance, reverse, pk_set, added=False))
        return
    if action in ("post_add", "post_remove") and pk_set:
        record_events(_membership_events(sender, instance, reverse, pk_set, added=action == "post_add"))


def _m2m_field_name(through: Any) -> str:
    """The owner-side field name of a many-to-many through model (``members``, ``devices``…)."""
    for owner_field in _M2M_FIELDS:
        if owner_field.remote_field.through is through:
            return owner_field.name
    raise LookupError(through)


_M2M_FIELDS = [
    UserGroup._meta.get_field("members"),
    DeviceGroup._meta.get_field("members"),
    Policy._meta.get_field("devices"),
    Policy._meta.get_field("device_groups"),
]


def connect() -> None:
    """Connect the receivers; called once from ``DirectoryConfig.ready``."""
    for model in _TRACKED:
        uid = f"keyflow-{model._meta.label_lower}"
        post_init.connect(_remember_loaded, sender=model, dispatch_uid=f"{uid}-init")
        post_save.connect(_on_save, sender=model, dispatch_uid=f"{uid}-save")
        post_delete.connect(_on_delete, sender=model, dispatch_uid=f"{uid}-delete")
    for model in _RELATIONS_ON_DELETE:
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=f"keyflow-{model._meta.label_lower}-pre-delete")
    for through in _M2M:
        m2m_changed.connect(_on_m2m_changed, sender=through, dispatch_uid=f"keyflow-m2m-{through._meta.label_lower}")
