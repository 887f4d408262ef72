"""Plain-data pictures of directory objects.

Events store these so the log outlives the objects, and the workflow engine exposes them to
expressions; both need JSON-safe values and the same field names as the API.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from django.db import models

# Fields that never go into a snapshot or a change list: bookkeeping, or secrets.
EXCLUDED_FIELDS = {"created_at", "updated_at", "webhook_url", "signing_key", "secret"}


# Exact types that are JSON-safe as they are: most fields, checked first (a save reads every one).
_AS_IS = frozenset({str, int, bool, float, type(None)})


def json_value(value: Any) -> Any:
    """Convert a model field value to a JSON-safe value.

    JSON containers are deep-copied: the remembered "before" values must not be the very dict
    a caller then mutates in place (``user.attributes["x"] = 1; user.save()``), or the change
    would compare equal to itself and no event would be written.
    """
    if type(value) in _AS_IS:
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dict | list):
        return copy.deepcopy(value) if value else copy.copy(value)
    return value


def tracked_fields(model: type[models.Model]) -> list[models.Field]:
    """The concrete, non-relational-collection fields whose changes are recorded."""
    return [f for f in model._meta.concrete_fields if f.name not in EXCLUDED_FIELDS and not f.primary_key]


@cache
def _tracked_names(model: type[models.Model]) -> tuple[tuple[str, str], ...]:
    return tuple((f.name, f.attname) for f in tracked_fields(model))


def field_values(instance: models.Model) -> dict[str, Any]:
    """Current values of the tracked fields, keyed by field name (foreign keys by id).

    Deferred fields are left out rather than loaded, so reading ``.only(...)`` querysets
    costs no extra queries. (A field's value lives in the instance's ``__dict__`` under its
    attname, and a deferred field is exactly one that is not there — Django's own test; every
    directory save and load reads all of them, so this loop is kept tight.)
    """
    attributes = instance.__dict__
    values = {}
    for name, attname in _tracked_names(type(instance)):
        if attname in attributes:
            value = attributes[attname]
            values[name] = value if type(value) in _AS_IS else json_value(value)
    return values


def snapshot(instance: models.Model, values: dict[str, Any] | None = None) -> dict[str, Any]:
    """The object as plain data: its id plus tracked fields (``values``: ``field_values(instance)``
    when the caller just computed it, as the save receiver has)."""
    data = {"id": instance.pk}
    data.update(field_values(instance) if values is None else values)
    extra = _EXTRAS.get(type(instance)._meta.label)
    if extra is not None:
        data.update(extra(instance))
    return data


def _channel_extra(instance: Any) -> dict[str, Any]:
    return {"has_webhook_url": bool(instance.webhook_url), "has_signing_key": bool(instance.signing_key)}


def _connection_extra(instance: Any) -> dict[str, Any]:
    return {"has_secret": bool(instance.secret)}


_EXTRAS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "directory.NotificationChannel": _channel_extra,
    "directory.Connection": _connection_extra,
}
