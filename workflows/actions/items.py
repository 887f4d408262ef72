"""Users and devices as plain data in action outputs: the fields ``event.user`` / ``event.device``
have in expressions (the directory snapshot: every field, foreign keys by id), plus the
relations a caller asks for, so a later step reads a looked-up user as it reads an event's."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from directory.choices import EmployeeType, OSFamily, UserState
from directory.models import Device, User
from directory.snapshots import snapshot

USER_RELATIONS = ("groups", "devices")
DEVICE_RELATIONS = ("groups", "owner")

_ID = {"type": "integer", "description": "Id (use it to name the object in later steps)"}
_TEXT = {"type": "string"}
_DATE = {"type": ["string", "null"], "description": "ISO date, or null"}
_TIME = {"type": ["string", "null"], "description": "ISO date-time, or null"}
_GROUP_REF = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"}},
}

USER_FIELDS_SCHEMA: dict[str, Any] = {
    "id": _ID,
    "username": _TEXT,
    "email": _TEXT,
    "first_name": _TEXT,
    "last_name": _TEXT,
    "display_name": {"type": "string", "description": "Full name, or the username"},
    "state": {"type": "string", "enum": list(UserState.values)},
    "department": _TEXT,
    "job_title": _TEXT,
    "employee_type": {"type": "string", "enum": list(EmployeeType.values)},
    "location": _TEXT,
    "manager": {"type": ["integer", "null"], "description": "The manager's user id, or null"},
    "employee_id": _TEXT,
    "hire_date": _DATE,
    "termination_date": _DATE,
    "mfa_enrolled": {"type": "boolean"},
    "account_locked": {"type": "boolean"},
    "password_expired": {"type": "boolean"},
    "last_login_at": _TIME,
    "attributes": {"type": "object", "description": "Custom attributes"},
}

DEVICE_FIELDS_SCHEMA: dict[str, Any] = {
    "id": _ID,
    "hostname": _TEXT,
    "display_name": _TEXT,
    "os_family": {"type": "string", "enum": list(OSFamily.values)},
    "os_version": _TEXT,
    "serial_number": _TEXT,
    "owner": {"type": ["integer", "null"], "description": "The owner's user id, or null"},
    "last_contact_at": {**_TIME, "description": "When the agent last called in (ISO date-time), or null"},
    "disk_encrypted": {"type": "boolean"},
    "firewall_enabled": {"type": "boolean"},
    "agent_version": _TEXT,
    "locked": {"type": "boolean"},
    "active": {"type": "boolean"},
    "attributes": {"type": "object", "description": "Custom attributes"},
}

USER_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **USER_FIELDS_SCHEMA,
        "groups": {
            "type": "array",
            "items": _GROUP_REF,
            "description": "The user groups (id, name); with include: groups",
        },
        "devices": {
            "type": "array",
            "items": {"type": "object", "properties": DEVICE_FIELDS_SCHEMA},
            "description": "The devices the user owns; with include: devices",
        },
    },
}

DEVICE_ITEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        **DEVICE_FIELDS_SCHEMA,
        "groups": {
            "type": "array",
            "items": _GROUP_REF,
            "description": "The device groups (id, name); with include: groups",
        },
        "owner": {
            "type": ["object", "null"],
            "properties": USER_FIELDS_SCHEMA,
            "description": "The owner's id, or with include: owner the owner as a user (null: none)",
        },
    },
}


def include_schema(relations: tuple[str, ...], noun: str) -> dict[str, Any]:
    return {
        "type": "array",
        "title": "Include",
        "description": f"Related objects to add to each {noun}: {', '.join(relations)}.",
        "items": {"type": "string", "enum": list(relations)},
        "uniqueItems": True,
    }


def with_relations(rows: QuerySet, include: Iterable[str]) -> QuerySet:
    """Prefetch what ``include`` asks for, so a page of items costs a fixed number of queries."""
    wanted = set(include)
    if rows.model is User:
        lookups = [name for name in ("groups", "devices") if name in wanted]
    else:
        lookups = ["device_groups"] if "groups" in wanted else []
        if "owner" in wanted:
            rows = rows.select_related("owner")
    return rows.prefetch_related(*lookups) if lookups else rows


def user_item(user: User, include: Iterable[str] = ()) -> dict[str, Any]:
    """A user as plain data; ``include`` adds ``groups`` and/or ``devices``."""
    data = snapshot(user)
    data["display_name"] = user.display_name
    wanted = set(include)
    if "groups" in wanted:
        data["groups"] = [{"id": g.pk, "name": g.name} for g in user.groups.all()]
    if "devices" in wanted:
        data["devices"] = [snapshot(d) for d in user.devices.all()]
    return data


def device_item(device: Device, include: Iterable[str] = ()) -> dict[str, Any]:
    """A device as plain data; ``include`` adds ``groups`` and/or the ``owner`` as a user."""
    data = snapshot(device)
    wanted = set(include)
    if "groups" in wanted:
        data["groups"] = [{"id": g.pk, "name": g.name} for g in device.device_groups.all()]
    if "owner" in wanted:
        data["owner"] = snapshot(device.owner) if device.owner_id else None
    return data
