"""Finding the directory object a param names, by id or natural key.

Params that name a directory object accept its id (a number, or digits as text) or its
natural key: a user's username or email, a group's/policy's/command's/channel's name, a
device's hostname. A value that matches nothing is a non-retryable step error naming it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connection, models
from django.db.models import Q

from directory.models import Command, Device, DeviceGroup, NotificationChannel, Policy, User, UserGroup
from directory.rows import load_rows, select_columns
from workflows.actions.base import ActionError

# param kind -> (model, natural-key fields, noun for messages)
_KINDS: dict[str, tuple[type[models.Model], tuple[str, ...], str]] = {
    "user": (User, ("username", "email"), "user"),
    "group": (UserGroup, ("name",), "user group"),
    "device": (Device, ("hostname",), "device"),
    "device_group": (DeviceGroup, ("name",), "device group"),
    "policy": (Policy, ("name",), "policy"),
    "command": (Command, ("name",), "command"),
    "channel": (NotificationChannel, ("name",), "notification channel"),
}

# The JSON Schema of a param that names a directory object.
REFERENCE_SCHEMA: dict[str, Any] = {
    "oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "minLength": 1}],
}


def reference_schema(kind: str) -> dict[str, Any]:
    """Schema for a param naming a ``kind`` object, with a description for the builder."""
    _, keys, noun = _KINDS[kind]
    return {**REFERENCE_SCHEMA, "description": f"The {noun}: its id or {' or '.join(keys)}", "x-keyflow-ref": kind}


def resolve(kind: str, value: Any, *, lock: bool = False) -> models.Model:
    """Return the object ``value`` names, or raise ``ActionError``.

    ``lock``: read it with ``select_for_update`` — an action about to change the object passes
    the locked row to the service, which then need not read it again.
    """
    model, keys, noun = _KINDS[kind]
    if isinstance(value, dict) and "id" in value:  # a whole object from an expression
        value = value["id"]
    if isinstance(value, model) and not lock:
        return value
    if isinstance(value, model):
        value = value.pk
    if isinstance(value, int) and not isinstance(value, bool):
        text, pk = None, value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        pk = int(text) if text.isdigit() else None
    else:
        raise ActionError(f"{value!r} does not name a {noun}")
    # Exact matches use the unique indexes; the case-insensitive fallback scans, so it runs
    # only when the exact lookup finds nothing.
    matches = _lookup(model, keys, text, pk, lock=lock)
    if not matches and text is not None:
        loose = Q()
        for key in keys:
            loose |= Q(**{f"{key}__iexact": text})
        rows = model.objects.select_for_update() if lock else model.objects.all()
        matches = list(rows.filter(loose)[:2])
    if not matches:
        raise ActionError(f"No {noun} matches {value!r}")
    if len(matches) > 1:
        raise ActionError(f"{value!r} matches more than one {noun}; use its id")
    return matches[0]


def _lookup(
    model: type[models.Model], keys: tuple[str, ...], text: str | None, pk: int | None, *, lock: bool
) -> list[models.Model]:
    """Exact matches on the id or a natural key: one hand-written query (every step that names an
    object runs it, and the ORM spent longer building it than the database answering it)."""
    sql = _lookup_sql(model, keys if text is not None else (), pk is not None, lock, connection.vendor)
    params = ([pk] if pk is not None else []) + ([text] * len(keys) if text is not None else [])
    return load_rows(model, sql, params)


@cache
def _lookup_sql(model: type[models.Model], keys: tuple[str, ...], by_pk: bool, lock: bool, vendor: str) -> str:
    qn = connection.ops.quote_name
    names = ((model._meta.pk.name,) if by_pk else ()) + keys
    where = " OR ".join(f"{qn(model._meta.get_field(name).column)} = %s" for name in names)
    for_update = " FOR UPDATE" if lock and connection.features.has_select_for_update else ""
    return f"SELECT {select_columns(model)} FROM {qn(model._meta.db_table)} WHERE {where} LIMIT 2{for_update}"
