"""Inserting rows with a hand-written statement where the ORM's cost dominates.

Every directory change a workflow makes writes an event row. ``bulk_create`` spent about a
millisecond building that one INSERT — more than the database took to run it, and the biggest
single cost left in a workflow step. The statement here is built once per model from its
metadata; each value goes through its field's own ``pre_save`` and ``get_db_prep_save``, so
JSON, dates and defaults are stored exactly as the ORM stores them. Like ``bulk_create`` it
sends no signals. Several rows (an import) go through ``bulk_create``, which writes them in a few
multi-row statements; so do backends that cannot return ids from an INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


@cache
def _insert(model: type[models.Model], vendor: str) -> tuple[str, tuple[models.Field, ...]]:
    qn = connection.ops.quote_name
    pk = model._meta.pk
    fields = tuple(f for f in model._meta.concrete_fields if f is not pk)
    columns = ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return (
        f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {qn(pk.column)}",
        fields,
    )


def insert_rows(objs: Sequence[M]) -> list[M]:
    """Insert new, unsaved instances of one model; sets their primary keys and returns them."""
    if not objs:
        return list(objs)
    model = type(objs[0])
    if len(objs) > 1 or not connection.features.can_return_columns_from_insert:
        return model.objects.bulk_create(objs)
    (obj,) = objs
    sql, fields = _insert(model, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias
    return [obj]
