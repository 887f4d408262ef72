"""Every write to the directory.

Services are the only code that changes directory state. Each takes keyword-only arguments
and an ``actor=`` (an admin account, an ``Actor``, or ``None`` for the system), runs in one
transaction, validates with the model's own rules, and returns the object. The events a
change means are written by the signal receivers inside the same transaction.
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from directory.actors import Actor, ActorLike, acting_as
from directory.builtin_commands import BUILTIN_COMMANDS, builtin_key, on_success_fields
from directory.choices import (
    AgentTokenKind,
    ChannelKind,
    CommandRunStatus,
    ConnectionAuthType,
    OSFamily,
    ResourceType,
    UserState,
)
from directory.event_log import PendingEvent, record_events
from directory.models import (
    AgentToken,
    Command,
    CommandRun,
    Connection,
    Device,
    DeviceGroup,
    NotificationChannel,
    Policy,
    User,
    UserGroup,
)
from directory.signals import loaded_values, mark_saved
from directory.snapshots import json_value, snapshot
from directory.transactions import atomic_service

__all__ = [
    "agent_enrol",
    "agent_enrolment_token_create",
    "agent_tokens_revoke",
    "channel_create",
    "channel_delete",
    "channel_update",
    "channel_validate",
    "command_builtin",
    "command_create",
    "command_delete",
    "command_run_finish",
    "command_run_request",
    "command_runs_claim",
    "command_update",
    "connection_create",
    "connection_delete",
    "connection_update",
    "connection_validate",
    "device_create",
    "device_delete",
    "device_group_add_member",
    "device_group_create",
    "device_group_delete",
    "device_group_remove_member",
    "device_group_update",
    "device_lock",
    "device_record_contact",
    "device_update",
    "group_add_member",
    "group_create",
    "group_delete",
    "group_remove_member",
    "group_update",
    "policy_bind",
    "policy_create",
    "policy_delete",
    "policy_unbind",
    "policy_update",
    "user_activate",
    "user_create",
    "user_delete",
    "user_expire_password",
    "user_lock",
    "user_remove_from_all_groups",
    "user_reset_mfa",
    "user_set_manager",
    "user_suspend",
    "user_unlock",
    "user_update",
    "users_import",
]

# Which states a user may move to from each state.
USER_TRANSITIONS: dict[str, set[str]] = {
    UserState.STAGED: {UserState.ACTIVE, UserState.SUSPENDED},
    UserState.ACTIVE: {UserState.SUSPENDED},
    UserState.SUSPENDED: {UserState.ACTIVE},
}

_READ_ONLY_FIELDS = {"id", "pk", "created_at", "updated_at"}


def _assign(instance: models.Model, fields: Mapping[str, Any], *, allowed: Iterable[str] | None = None) -> None:
    """Set fields by name, refusing unknown or read-only ones with a field-level error."""
    editable = {f.name for f in type(instance)._meta.concrete_fields} - _READ_ONLY_FIELDS
    if allowed is not None:
        editable &= set(allowed)
    unknown = sorted(set(fields) - editable)
    if unknown:
        raise ValidationError({name: "This field cannot be set here." for name in unknown})
    for name, value in fields.items():
        field = type(instance)._meta.get_field(name)
        if isinstance(field, models.ForeignKey) and value == "":
            value = None  # forms, CSV imports and templated workflow params say "none" as ""
        if isinstance(field, models.ForeignKey) and value is not None and not isinstance(value, models.Model):
            setattr(instance, field.attname, value)
        else:
            setattr(instance, name, value)


def _merge_attributes(current: Mapping[str, Any], patch: Any) -> dict[str, Any]:
    """Custom attributes are patched key by key (None removes a key), so two workflows that each
    set their own attribute do not overwrite each other's."""
    if patch is None:
        return dict(current)
    if not isinstance(patch, Mapping):
        raise ValidationError({"attributes": "Custom attributes must be a JSON object."})
    merged = dict(current)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _save(instance: models.Model, *, exclude_unique: bool = False) -> models.Model:
    """Validate and save. An update validates the fields it changes (every value stored went
    through this on its own way in), checks uniqueness only for unique fields that changed (each
    check is a query) and writes only the fields that changed: a workflow step that sets a job
    title should neither re-validate and re-check an unchanged email nor rewrite every column."""
    loaded = None if instance._state.adding else loaded_values(instance)
    unchanged = _unchanged_fields(instance, loaded)
    # (An unchanged foreign key is not looked up again either: a user's manager, on every update.)
    instance.full_clean(exclude=unchanged, validate_unique=False)
    if not exclude_unique and _may_collide(type(instance), unchanged):
        instance.validate_unique(exclude=unchanged)
    instance.save(update_fields=_changed_fields(instance, loaded, unchanged))
    return instance


def _may_collide(model: type[models.Model], unchanged: list[str]) -> bool:
    """Could a uniqueness check of the fields not ``unchanged`` find anything? Not when none of
    them is unique or in a unique set (``validate_unique`` would build its checks only to skip
    each one); always when a unique constraint is an expression, which names no fields."""
    names = _unique_field_names(model)
    return names is None or not names.issubset(unchanged)


@functools.cache
def _unique_field_names(model: type[models.Model]) -> frozenset[str] | None:
    """The fields any uniqueness check of ``model`` involves (None: cannot tell)."""
    meta = model._meta
    names = {f.name for f in meta.local_fields if f.unique and not f.primary_key}
    for field in meta.local_fields:
        names.update(n for n in (field.unique_for_date, field.unique_for_year, field.unique_for_month) if n)
        if field.unique_for_date or field.unique_for_year or field.unique_for_month:
            names.add(field.name)
    for together in meta.unique_together:
        names.update(together)
    for constraint in meta.total_unique_constraints:
        names.update(constraint.fields)
    if any(isinstance(c, models.UniqueConstraint) and not c.fields for c in meta.constraints):
        return None
    if meta.parents:
        return None
    return frozenset(names)


def _unchanged_fields(instance: models.Model, loaded: dict[str, Any] | None) -> list[str]:
    """Fields whose value is still the one loaded (none for a new row or when unknown)."""
    if loaded is None:
        return []
    attributes = instance.__dict__  # (an attname missing here is deferred: never "unchanged")
    return [
        f.name
        for f in type(instance)._meta.concrete_fields
        if f.name in loaded and f.attname in attributes and loaded[f.name] == json_value(attributes[f.attname])
    ]


def _changed_fields(instance: models.Model, loaded: dict[str, Any] | None, unchanged: list[str]) -> list[str] | None:
    """The fields an update must write (None: all, for a new row or when unknown).

    Compared as the change log compares them (``json_value``); fields the log does not track
    (secrets, ``updated_at``) are always written, so an ``auto_now`` stamp still moves.
    ``unchanged`` (from before validation, which leaves those fields alone) need not be compared
    again; a field validation converted may turn out unchanged after all.
    """
    if loaded is None:
        return None
    deferred = instance.get_deferred_fields()
    skip = set(unchanged)
    fields = [
        f.name
        for f in type(instance)._meta.concrete_fields
        if not f.primary_key
        and not getattr(f, "auto_now_add", False)
        and f.attname not in deferred
        and f.name not in skip
        and (f.name not in loaded or loaded[f.name] != json_value(getattr(instance, f.attname)))
    ]
    return fields or None


# --- users -----------------------------------------------------------------------------------


@atomic_service
def user_create(*, actor: ActorLike, **fields: Any) -> User:
    """Add a person to the directory (staged unless a state is given)."""
    with acting_as(actor):
        user = User()
        _assign(user, fields)
        return _save(user)


def _check_transition(user: User, new_state: str) -> None:
    if new_state == user.state:
        return
    if new_state not in USER_TRANSITIONS.get(user.state, set()):
        raise ValidationError({"state": f"A user who is {user.state} cannot become {new_state}."})


def _locked(user: User, locked: bool) -> User:
    """The user row, read with a row lock — unless the caller already did so in this transaction."""
    return user if locked else User.objects.select_for_update().get(pk=user.pk)


@atomic_service
def user_update(*, user: User, actor: ActorLike, locked: bool = False, **fields: Any) -> User:
    """Change a user's attributes; ``attributes`` (custom) is merged key by key, None deletes a key.

    ``locked``: the caller read ``user`` with ``select_for_update`` in the current transaction
    (workflow actions do), so it is current and is not read again.
    """
    with acting_as(actor):
        user = _locked(user, locked)
        if "state" in fields:
            _check_transition(user, fields["state"])
        if "attributes" in fields:
            user.attributes = _merge_attributes(user.attributes, fields.pop("attributes"))
        _assign(user, fields)
        if user.manager_id is not None and user.manager_id == user.pk:
            raise ValidationError({"manager": "A user cannot be their own manager."})
        return _save(user)


def _set_state(user: User, state: str, actor: ActorLike, locked: bool) -> User:
    with acting_as(actor):
        user = _locked(user, locked)
        if user.state == state:
            return user
        _check_transition(user, state)
        user.state = state
        user.save(update_fields=["state", "updated_at"])
        return user


@atomic_service
def user_activate(*, user: User, actor: ActorLike, locked: bool = False) -> User:
    """Make a staged or suspended user active; an active user is left as is (``locked``: see ``user_update``)."""
    return _set_state(user, UserState.ACTIVE, actor, locked)


@atomic_service
def user_suspend(*, user: User, actor: ActorLike, locked: bool = False) -> User:
    """Suspend a user; a suspended user is left as is (``locked``: see ``user_update``)."""
    return _set_state(user, UserState.SUSPENDED, actor, locked)


def _set_flag(user: User, field: str, value: bool, actor: ActorLike) -> User:
    with acting_as(actor):
        user = User.objects.select_for_update().get(pk=user.pk)
        if getattr(user, field) != value:
            setattr(user, field, value)
            user.save()
        return user


@atomic_service
def user_lock(*, user: User, actor: ActorLike) -> User:
    """Lock the user's account (sign-in refused until unlocked)."""
    return _set_flag(user, "account_locked", True, actor)


@atomic_service
def user_unlock(*, user: User, actor: ActorLike) -> User:
    """Unlock the user's account."""
    return _set_flag(user, "account_locked", False, actor)


@atomic_service
def user_expire_password(*, user: User, actor: ActorLike) -> User:
    """Mark the user's password expired so they must change it at next sign-in."""
    return _set_flag(user, "password_expired", True, actor)


@atomic_service
def user_reset_mfa(*, user: User, actor: ActorLike) -> User:
    """Clear the user's MFA enrolment so they must enrol a factor again at next sign-in (a lost
    phone, offboarding); writes ``user.mfa_reset``."""
    return _set_flag(user, "mfa_enrolled", False, actor)


# A reporting chain longer than this is treated as a loop rather than walked further.
_MAX_MANAGER_CHAIN = 1000


@atomic_service
def user_set_manager(*, user: User, manager: User | None, actor: ActorLike, locked: bool = False) -> User:
    """Set (or, with None, clear) a user's manager, refusing a loop in the reporting chain: an org
    chart where A reports to B and B, through others, to A has no top (``locked``: see ``user_update``)."""
    if manager is not None:
        current: int | None = manager.pk
        for _ in range(_MAX_MANAGER_CHAIN):
            if current is None:
                break
            if current == user.pk:
                loop = f"{manager} reports to {user}, directly or through others; a reporting chain cannot loop."
                raise ValidationError({"manager": loop})
            current = User.objects.filter(pk=current).values_list("manager_id", flat=True).first()
        else:
            raise ValidationError({"manager": f"The reporting chain above {manager} is too long."})
    return user_update(user=user, actor=actor, locked=locked, manager=manager)


@atomic_service
def user_remove_from_all_groups(*, user: User, actor: ActorLike) -> list[UserGroup]:
    """Take a user out of every user group (offboarding); returns the groups they left, by name, so
    that they can be given back. One ``user_group.member_removed`` per group."""
    with acting_as(actor):
        groups = list(UserGroup.objects.filter(members=user).order_by("name"))
        if groups:
            user.groups.remove(*groups)
        return groups


@atomic_service
def user_delete(*, user: User, actor: ActorLike) -> None:
    """Delete a user; the ``user.deleted`` event keeps a snapshot."""
    with acting_as(actor):
        User.objects.get(pk=user.pk).delete()


@atomic_service
def users_import(*, rows: Iterable[Mapping[str, Any]], actor: ActorLike, batch_size: int = 500) -> list[User]:
    """Create many users at once (an HR import), writing one ``user.created`` event per user.

    Rows are validated one by one, then uniqueness (within the rows and against the directory)
    and managers are checked with one query each rather than one per row; the first problem
    aborts the whole import with an error keyed ``rows[<index>].<field>``. Users and their
    events are inserted with ``bulk_create``, because thousands of single-row saves are the
    slow path. The query count does not grow with the number of rows beyond the batching.
    """
    with acting_as(actor):
        users: list[User] = []
        for index, row in enumerate(rows):
            user = User()
            try:
                _assign(user, row)
                user.full_clean(exclude=["manager"], validate_unique=False)
            except ValidationError as exc:
                raise _row_error(index, exc) from exc
            users.append(user)
        _check_import_unique(users)
        _check_import_managers(users)
        created = User.objects.bulk_create(users, batch_size=batch_size)
        # bulk_create sends no post_save: make later saves of these objects diff against what
        # was stored, not against the blank instance they were built from.
        mark_saved(created)
        record_events(PendingEvent("user.created", "user", u, snapshot=snapshot(u)) for u in created)
        return created


def _row_error(index: int, exc: ValidationError) -> ValidationError:
    if hasattr(exc, "error_dict"):
        return ValidationError({f"rows[{index}].{field}": msgs for field, msgs in exc.message_dict.items()})
    return ValidationError({f"rows[{index}]": exc.messages})


def _check_import_unique(users: list[User]) -> None:
    """Unique fields, checked across the import and the directory with one query per field."""
    for name in ("username", "email"):
        first_seen: dict[str, int] = {}
        for index, user in enumerate(users):
            value = getattr(user, name)
            if value in first_seen:
                raise ValidationError({f"rows[{index}].{name}": f"Duplicate of row {first_seen[value]}."})
            first_seen[value] = index
        taken = _existing(name, list(first_seen))
        for value, index in first_seen.items():
            if value in taken:
                raise ValidationError({f"rows[{index}].{name}": f"A user with this {name} already exists."})


def _existing(field: str, values: list[Any], chunk: int = 900) -> set[Any]:
    """Which of ``values`` some user already has in ``field``; chunked to stay under SQLite's
    bound-parameter limit on large imports."""
    found: set[Any] = set()
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        found.update(User.objects.filter(**{f"{field}__in": part}).values_list(field, flat=True))
    return found


def _check_import_managers(users: list[User]) -> None:
    """Managers must be existing users (one query, instead of ``full_clean``'s one per row)."""
    pk_field = User._meta.pk
    for index, user in enumerate(users):
        if user.manager_id is not None:
            try:
                user.manager_id = pk_field.to_python(user.manager_id)
            except ValidationError as exc:
                raise ValidationError({f"rows[{index}].manager": exc.messages}) from exc
    found = _existing("pk", list({u.manager_id for u in users if u.manager_id is not None}))
    for index, user in enumerate(users):
        if user.manager_id is not None and user.manager_id not in found:
            raise ValidationError({f"rows[{index}].manager": f"No user with id {user.manager_id}."})


# --- user groups -----------------------------------------------------------------------------


@atomic_service
def group_create(*, actor: ActorLike, name: str, description: str = "", **fields: Any) -> UserGroup:
    """Create a user group."""
    with acting_as(actor):
        group = UserGroup(name=name, description=description)
        _assign(group, fields)
        return _save(group)


@atomic_service
def group_update(*, group: UserGroup, actor: ActorLike, **fields: Any) -> UserGroup:
    """Rename or describe a user group."""
    with acting_as(actor):
        group = UserGroup.objects.select_for_update().get(pk=group.pk)
        _assign(group, fields)
        return _save(group)


@atomic_service
def group_delete(*, group: UserGroup, actor: ActorLike) -> None:
    """Delete a user group (its members stay in the directory)."""
    with acting_as(actor):
        UserGroup.objects.get(pk=group.pk).delete()


@atomic_service
def group_add_member(*, group: UserGroup, user: User, actor: ActorLike) -> bool:
    """Add a user to a group; returns False (and writes no event) if already a member."""
    with acting_as(actor):
        if group.members.filter(pk=user.pk).exists():
            return False
        group.members.add(user)
        return True


@atomic_service
def group_remove_member(*, group: UserGroup, user: User, actor: ActorLike) -> bool:
    """Remove a user from a group; returns False (and writes no event) if not a member."""
    with acting_as(actor):
        if not group.members.filter(pk=user.pk).exists():
            return False
        group.members.remove(user)
        return True


# --- devices and device groups ---------------------------------------------------------------


@atomic_service
def device_create(*, actor: ActorLike, **fields: Any) -> Device:
    """Enroll a device."""
    with acting_as(actor):
        device = Device()
        _assign(device, fields)
        return _save(device)


@atomic_service
def device_update(*, device: Device, actor: ActorLike, **fields: Any) -> Device:
    """Change a device's attributes; ``attributes`` is merged as for users."""
    with acting_as(actor):
        device = Device.objects.select_for_update().get(pk=device.pk)
        if "attributes" in fields:
            device.attributes = _merge_attributes(device.attributes, fields.pop("attributes"))
        _assign(device, fields)
        return _save(device)


@atomic_service
def device_lock(*, device: Device, actor: ActorLike) -> Device:
    """Lock a device (the agent locks the screen and requires the owner's password)."""
    return device_update(device=device, actor=actor, locked=True)


@atomic_service
def device_delete(*, device: Device, actor: ActorLike) -> None:
    """Remove a device from management."""
    with acting_as(actor):
        Device.objects.get(pk=device.pk).delete()


@atomic_service
def device_group_create(*, actor: ActorLike, name: str, description: str = "") -> DeviceGroup:
    """Create a device group."""
    with acting_as(actor):
        return _save(DeviceGroup(name=name, description=description))


@atomic_service
def device_group_update(*, device_group: DeviceGroup, actor: ActorLike, **fields: Any) -> DeviceGroup:
    """Rename or describe a device group."""
    with acting_as(actor):
        device_group = DeviceGroup.objects.select_for_update().get(pk=device_group.pk)
        _assign(device_group, fields)
        return _save(device_group)


@atomic_service
def device_group_delete(*, device_group: DeviceGroup, actor: ActorLike) -> None:
    """Delete a device group."""
    with acting_as(actor):
        DeviceGroup.objects.get(pk=device_group.pk).delete()


@atomic_service
def device_group_add_member(*, device_group: DeviceGroup, device: Device, actor: ActorLike) -> bool:
    """Add a device to a device group; False if it already was a member."""
    with acting_as(actor):
        if device_group.members.filter(pk=device.pk).exists():
            return False
        device_group.members.add(device)
        return True


@atomic_service
def device_group_remove_member(*, device_group: DeviceGroup, device: Device, actor: ActorLike) -> bool:
    """Remove a device from a device group; False if it was not a member."""
    with acting_as(actor):
        if not device_group.members.filter(pk=device.pk).exists():
            return False
        device_group.members.remove(device)
        return True


# --- policies --------------------------------------------------------------------------------


@atomic_service
def policy_create(*, actor: ActorLike, **fields: Any) -> Policy:
    """Create a policy (unbound)."""
    with acting_as(actor):
        policy = Policy()
        _assign(policy, fields)
        return _save(policy)


@atomic_service
def policy_update(*, policy: Policy, actor: ActorLike, **fields: Any) -> Policy:
    """Change a policy's name, description or settings."""
    with acting_as(actor):
        policy = Policy.objects.select_for_update().get(pk=policy.pk)
        _assign(policy, fields)
        return _save(policy)


@atomic_service
def policy_delete(*, policy: Policy, actor: ActorLike) -> None:
    """Delete a policy and its bindings."""
    with acting_as(actor):
        Policy.objects.get(pk=policy.pk).delete()


def _binding_manager(policy: Policy, device: Device | None, device_group: DeviceGroup | None) -> tuple[Any, Any]:
    if (device is None) == (device_group is None):
        raise ValidationError("Bind a policy to exactly one device or one device group.")
    return (policy.devices, device) if device is not None else (policy.device_groups, device_group)


@atomic_service
def policy_bind(
    *, policy: Policy, actor: ActorLike, device: Device | None = None, device_group: DeviceGroup | None = None
) -> bool:
    """Bind a policy to a device or a device group; False if it already was bound."""
    manager, target = _binding_manager(policy, device, device_group)
    with acting_as(actor):
        if manager.filter(pk=target.pk).exists():
            return False
        manager.add(target)
        return True


@atomic_service
def policy_unbind(
    *, policy: Policy, actor: ActorLike, device: Device | None = None, device_group: DeviceGroup | None = None
) -> bool:
    """Unbind a policy from a device or a device group; False if it was not bound."""
    manager, target = _binding_manager(policy, device, device_group)
    with acting_as(actor):
        if not manager.filter(pk=target.pk).exists():
            return False
        manager.remove(target)
        return True


# --- commands --------------------------------------------------------------------------------


@atomic_service
def command_create(*, actor: ActorLike, **fields: Any) -> Command:
    """Create a command."""
    with acting_as(actor):
        command = Command()
        _assign(command, fields)
        return _save(command)


@atomic_service
def command_update(*, command: Command, actor: ActorLike, **fields: Any) -> Command:
    """Change a command's script, shell or timeout."""
    with acting_as(actor):
        command = Command.objects.select_for_update().get(pk=command.pk)
        _assign(command, fields)
        return _save(command)


@atomic_service
def command_delete(*, command: Command, actor: ActorLike) -> None:
    """Delete a command and its run history."""
    with acting_as(actor):
        Command.objects.get(pk=command.pk).delete()


@atomic_service
def command_builtin(*, key: str, os_family: str, actor: ActorLike) -> Command:
    """The stored command for the built-in command ``key`` (lock, restart, erase) on ``os_family``,
    created from ``directory.builtin_commands`` the first time it is needed; refused, naming the
    reason, for an OS family it has no script for."""
    spec = BUILTIN_COMMANDS.get(key)
    if spec is None:
        raise ValidationError({"command": f"There is no built-in command {key!r}."})
    family = OSFamily(os_family).label if os_family in OSFamily.values else os_family
    if os_family not in spec.scripts:
        reason = spec.unsupported.get(os_family, "there is no script for it")
        raise ValidationError({"device": f"{spec.label} is not available for {family} devices: {reason}."})
    marker = builtin_key(key, os_family)
    existing = Command.objects.filter(builtin=marker).first()
    if existing is not None:
        return existing
    shell, script = spec.scripts[os_family]
    with acting_as(actor):
        return _save(
            Command(
                name=spec.name_for(os_family),
                description=spec.description,
                shell=shell,
                script=script,
                timeout_seconds=spec.timeout_seconds,
                builtin=marker,
            )
        )


@atomic_service
def command_run_request(*, command: Command, device: Device, actor: ActorLike) -> CommandRun:
    """Queue a command for a device; the device's agent picks it up and reports back."""
    with acting_as(actor) as who:
        if not device.active:
            raise ValidationError({"device": f"Device {device.hostname} is not active."})
        return CommandRun.objects.create(command=command, device=device, requested_by=f"{who.type}:{who.name}")


@atomic_service
def command_runs_claim(*, device: Device, limit: int = 10) -> list[CommandRun]:
    """Hand the device's agent its queued command runs, oldest first, marking each running.

    Each run is claimed with a conditional update, so two polls never both get the same run. The
    status change writes no event: only a finished run is something workflows act on.
    """
    now = timezone.now()
    queued = CommandRun.objects.filter(device=device, status=CommandRunStatus.QUEUED)
    claimed = [
        pk
        for pk in queued.order_by("requested_at", "pk").values_list("pk", flat=True)[:limit]
        if CommandRun.objects.filter(pk=pk, status=CommandRunStatus.QUEUED).update(
            status=CommandRunStatus.RUNNING, started_at=now
        )
    ]
    return list(CommandRun.objects.filter(pk__in=claimed).select_related("command").order_by("requested_at", "pk"))


# Output kept per command run; more is cut, and marked so (a runaway ``cat`` must not fill a step).
COMMAND_OUTPUT_MAX_CHARS = 65536
_TRUNCATED = "\n[output truncated by Keyflow]"


def _cap_output(output: str) -> str:
    if len(output) <= COMMAND_OUTPUT_MAX_CHARS:
        return output
    return output[: COMMAND_OUTPUT_MAX_CHARS - len(_TRUNCATED)] + _TRUNCATED


@atomic_service
def command_run_finish(
    *, run: CommandRun, actor: ActorLike, exit_code: int | None, output: str = "", status: str | None = None
) -> CommandRun:
    """Record a command run's result as reported by the agent; writes ``command.finished``.

    A built-in command that succeeded also records what it did on the device (a lock sets
    ``locked``), in the same transaction.
    """
    with acting_as(actor):
        run = CommandRun.objects.select_for_update().select_related("command", "device").get(pk=run.pk)
        if run.status in CommandRunStatus.finished():
            raise ValidationError({"status": "This command run has already finished."})
        if status is None:
            status = CommandRunStatus.SUCCEEDED if exit_code == 0 else CommandRunStatus.FAILED
        if status not in CommandRunStatus.finished():
            raise ValidationError({"status": f"{status} is not a finished status."})
        now = timezone.now()
        run.status = status
        run.exit_code = exit_code
        run.output = _cap_output(output)
        run.started_at = run.started_at or now
        run.finished_at = now
        run.save()
        effects = on_success_fields(run.command.builtin) if status == CommandRunStatus.SUCCEEDED else {}
        if effects:
            device_update(device=run.device, actor=actor, **effects)
        return run


# --- device agents -----------------------------------------------------------------------------

# How long an enrolment token may wait to be used.
ENROLMENT_TOKEN_TTL = timedelta(hours=24)
# Agents call in every few seconds; ``last_contact_at`` is written at most this often.
CONTACT_RESOLUTION = timedelta(seconds=30)
_TOKEN_PREFIX = {AgentTokenKind.ENROLMENT: "kfe_", AgentTokenKind.AGENT: "kfa_"}


def _new_token(device: Device, kind: str, created_by: str, expires_at: Any = None) -> tuple[AgentToken, str]:
    token = _TOKEN_PREFIX[kind] + secrets.token_urlsafe(32)
    row = AgentToken.objects.create(
        device=device,
        kind=kind,
        key_hash=AgentToken.hash(token),
        prefix=token[:12],
        created_by=created_by[:255],
        expires_at=expires_at,
    )
    return row, token


def _token_event(event_type: str, device: Device, tokens: Iterable[AgentToken]) -> PendingEvent:
    return PendingEvent(
        event_type,
        ResourceType.DEVICE,
        device,
        snapshot={
            "device": snapshot(device),
            # Not "tokens": the redaction rule hides any key named like a secret, and these are only
            # ids, kinds and the first characters an admin recognises a token by.
            "issued": [{"id": t.pk, "kind": t.kind, "prefix": t.prefix} for t in tokens],
        },
    )


def _active_tokens(device: Device, kind: str | None = None) -> models.QuerySet[AgentToken]:
    now = timezone.now()
    rows = AgentToken.objects.filter(device=device, revoked_at__isnull=True, used_at__isnull=True)
    rows = rows.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
    return rows.filter(kind=kind) if kind else rows


@atomic_service
def agent_enrolment_token_create(*, device: Device, actor: ActorLike) -> tuple[AgentToken, str]:
    """A one-use token (valid for ``ENROLMENT_TOKEN_TTL``) with which the device's agent enrols.

    Returns the row and the token, which is not stored and so can be shown only now. An earlier
    enrolment token of the device that was not used is revoked: one pending enrolment per device.
    The agent already enrolled keeps working until the new enrolment replaces it.
    """
    with acting_as(actor) as who:
        device = Device.objects.select_for_update().get(pk=device.pk)
        if not device.active:
            raise ValidationError({"device": f"Device {device.hostname} is not active."})
        _active_tokens(device, AgentTokenKind.ENROLMENT).update(revoked_at=timezone.now())
        row, token = _new_token(
            device, AgentTokenKind.ENROLMENT, f"{who.type}:{who.name}", timezone.now() + ENROLMENT_TOKEN_TTL
        )
        record_events([_token_event("device.agent_enrolment_created", device, [row])])
        return row, token


@atomic_service
def agent_enrol(*, enrolment: AgentToken, agent_version: str = "", os_version: str = "") -> tuple[AgentToken, str]:
    """Exchange an enrolment token for the agent's own token, which only the agent ever sees.

    The enrolment token is used up, and any earlier agent token of the device revoked (a
    reinstalled agent replaces the old one). The agent's facts (version, OS version) are recorded.
    """
    device = Device.objects.select_for_update().get(pk=enrolment.device_id)
    with acting_as(Actor.for_agent(device)) as who:
        used = AgentToken.objects.filter(
            pk=enrolment.pk, kind=AgentTokenKind.ENROLMENT, used_at__isnull=True, revoked_at__isnull=True
        ).update(used_at=timezone.now())
        if not used:
            raise ValidationError({"token": "This enrolment token was already used or revoked."})
        _active_tokens(device, AgentTokenKind.AGENT).update(revoked_at=timezone.now())
        row, token = _new_token(device, AgentTokenKind.AGENT, f"{who.type}:{who.name}")
        facts = {"agent_version": agent_version[:32], "os_version": os_version[:64]}
        facts = {k: v for k, v in facts.items() if v and getattr(device, k) != v}
        if facts:
            device_update(device=device, actor=who, **facts)
        record_events([_token_event("device.agent_enrolled", device, [row])])
        return row, token


@atomic_service
def agent_tokens_revoke(
    *, actor: ActorLike, device: Device | None = None, tokens: Iterable[AgentToken] | None = None
) -> int:
    """Revoke a device's agent and enrolment tokens (or the given ones); returns how many were
    active. The agent is refused from its next call on; enrolling again makes it a new token."""
    if (device is None) == (tokens is None):
        raise ValueError("Revoke the tokens of one device, or given tokens.")
    rows = (
        _active_tokens(device)
        if device is not None
        else AgentToken.objects.filter(pk__in=[t.pk for t in tokens], revoked_at__isnull=True, used_at__isnull=True)
    )
    revoked = list(rows.select_related("device"))
    if not revoked:
        return 0
    AgentToken.objects.filter(pk__in=[t.pk for t in revoked], revoked_at__isnull=True).update(revoked_at=timezone.now())
    by_device: dict[int, list[AgentToken]] = {}
    for row in revoked:
        by_device.setdefault(row.device_id, []).append(row)
    with acting_as(actor):
        record_events(_token_event("device.agent_revoked", rows[0].device, rows) for rows in by_device.values())
    return len(revoked)


@atomic_service
def device_record_contact(*, device: Device, token: AgentToken, agent_version: str = "") -> None:
    """Note that the device's agent called in (``last_contact_at``, the token's ``last_used_at``).

    Telemetry, not a change anyone made: written with ``update()``, so no ``device.updated`` event
    (every poll would start "on device updated" workflows), and at most every ``CONTACT_RESOLUTION``.
    """
    now = timezone.now()
    stale = Q(last_contact_at__isnull=True) | Q(last_contact_at__lt=now - CONTACT_RESOLUTION)
    fields: dict[str, Any] = {"last_contact_at": now}
    if agent_version:
        fields["agent_version"] = agent_version[:32]
    Device.objects.filter(pk=device.pk).filter(stale).update(**fields)
    token_stale = Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - CONTACT_RESOLUTION)
    AgentToken.objects.filter(pk=token.pk).filter(token_stale).update(last_used_at=now)


# --- notification channels -------------------------------------------------------------------


@atomic_service
def channel_create(*, actor: ActorLike, **fields: Any) -> NotificationChannel:
    """Create a notification channel; secrets are encrypted on save."""
    with acting_as(actor):
        channel = NotificationChannel()
        _assign(channel, fields)
        return _save_channel(channel)


@atomic_service
def channel_update(*, channel: NotificationChannel, actor: ActorLike, **fields: Any) -> NotificationChannel:
    """Change a channel; a secret passed as ``None`` or left out keeps its stored value."""
    with acting_as(actor):
        channel = NotificationChannel.objects.select_for_update().get(pk=channel.pk)
        for secret in ("webhook_url", "signing_key"):
            if fields.get(secret, "") is None:
                fields.pop(secret)
        _assign(channel, fields)
        return _save_channel(channel)


@atomic_service
def channel_delete(*, channel: NotificationChannel, actor: ActorLike) -> None:
    """Delete a notification channel."""
    with acting_as(actor):
        NotificationChannel.objects.get(pk=channel.pk).delete()


def _save_channel(channel: NotificationChannel) -> NotificationChannel:
    # Field errors (an unknown kind, a duplicate name) first: the channel rules assume valid fields.
    channel.full_clean()
    channel_validate(channel)
    channel.save()
    return channel


def channel_validate(channel: NotificationChannel) -> None:
    """The rules a channel must meet beyond its fields' own: an email list needs valid
    addresses, a webhook channel a URL (https for Slack and Teams, whose URLs are credentials).

    Public so that forms can show these errors next to the fields instead of failing on save.
    """
    from django.core.validators import URLValidator, validate_email

    if channel.kind == ChannelKind.EMAIL:
        if not isinstance(channel.recipients, list) or not channel.recipients:
            raise ValidationError({"recipients": "An email channel needs at least one address."})
        for address in channel.recipients:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise ValidationError({"recipients": f"{address!r} is not a valid email address."}) from exc
    else:
        if not channel.webhook_url:
            raise ValidationError({"webhook_url": "This channel needs a webhook URL."})
        schemes = ["https", "http"] if channel.kind == ChannelKind.WEBHOOK else ["https"]
        try:
            URLValidator(schemes=schemes)(channel.webhook_url)
        except ValidationError as exc:
            raise ValidationError({"webhook_url": f"Enter a valid {' or '.join(schemes)} URL."}) from exc


# --- connections -------------------------------------------------------------------------------

# An HTTP header name is a token (RFC 9110, section 5.6.2): no spaces, colons or separators.
_HEADER_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@atomic_service
def connection_create(*, actor: ActorLike, **fields: Any) -> Connection:
    """Create a connection; the secret is encrypted on save."""
    with acting_as(actor):
        connection = Connection()
        _assign(connection, fields)
        return _save_connection(connection)


@atomic_service
def connection_update(*, connection: Connection, actor: ActorLike, **fields: Any) -> Connection:
    """Change a connection; a secret passed as ``None`` or left out keeps its stored value, and
    ``""`` clears it."""
    with acting_as(actor):
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        if fields.get("secret", "") is None:
            fields.pop("secret")
        _assign(connection, fields)
        return _save_connection(connection)


@atomic_service
def connection_delete(*, connection: Connection, actor: ActorLike) -> None:
    """Delete a connection."""
    with acting_as(actor):
        Connection.objects.get(pk=connection.pk).delete()


def _save_connection(connection: Connection) -> Connection:
    # Field errors (an unknown auth type, a duplicate name, a timeout out of range) first: the
    # connection rules assume valid fields.
    connection.full_clean()
    connection_validate(connection)
    connection.save()
    return connection


def connection_validate(connection: Connection) -> None:
    """The rules a connection must meet beyond its fields' own: an http(s) base URL, and the
    credentials its authentication type needs (a secret for bearer, basic and API key; a user
    name for basic; a valid header name for API key).

    Public so that forms can show these errors next to the fields instead of failing on save.
    """
    from django.core.validators import URLValidator

    errors: dict[str, str] = {}
    try:
        URLValidator(schemes=["http", "https"])(connection.base_url or "")
    except ValidationError:
        errors["base_url"] = "Enter a valid http or https URL."
    auth = connection.auth_type
    needed_secret = {
        ConnectionAuthType.BEARER: "a token",
        ConnectionAuthType.BASIC: "a password",
        ConnectionAuthType.API_KEY_HEADER: "an API key",
    }.get(auth)
    if needed_secret and not connection.secret:
        errors["secret"] = f"This authentication type needs {needed_secret}."
    if auth == ConnectionAuthType.BASIC and not connection.username:
        errors["username"] = "Basic authentication needs a user name."
    if auth == ConnectionAuthType.API_KEY_HEADER and not _HEADER_TOKEN.fullmatch(connection.header_name or ""):
        errors["header_name"] = "Enter a valid HTTP header name (no spaces, colons or separators)."
    if errors:
        raise ValidationError(errors)
