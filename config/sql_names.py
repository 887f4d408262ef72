"""Names and values for the few statements Keyflow writes out itself instead of building them
through the ORM each time (claims, the wake-up count, permission reads, natural-key lookups,
inserts of rows nothing reads back by id).

Each such statement is built once per process from the models' own tables and columns, quoted by
the database in use, and its parameters prepared by the model field, as the ORM would.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connection
from django.db.models import Field, Model


def table(model: type[Model]) -> str:
    """The model's table, quoted."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], field: str) -> str:
    """The column of the model's ``field``, quoted."""
    return connection.ops.quote_name(model._meta.get_field(field).column)


def row_columns(model: type[Model]) -> str:
    """Every column of the model's rows, quoted, in field order: a whole row for ``Manager.raw()``."""
    return ", ".join(column(model, f.name) for f in model._meta.concrete_fields)


def db_value(model: type[Model], field: str, value: Any) -> Any:
    """``value`` as the database stores the model's ``field`` (a datetime: UTC text on SQLite)."""
    return model._meta.get_field(field).get_db_prep_value(value, connection)


def insert_rows(model: type[Model], rows: Sequence[Model]) -> None:
    """Write new ``rows`` of ``model`` by one INSERT built once per model, each value prepared by its
    field (``pre_save`` included) as the ORM's INSERT prepares it. No ids are read back: for rows
    nothing refers to by id afterwards (events no one listens to)."""
    if not rows:
        return
    sql, fields = _insert(model)
    values = [[f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields] for row in rows]
    with connection.cursor() as cursor:
        if len(values) == 1:
            cursor.execute(sql, values[0])
        else:
            cursor.executemany(sql, values)


@cache
def _insert(model: type[Model]) -> tuple[str, tuple[Field, ...]]:
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key)
    columns = ", ".join(column(model, f.name) for f in fields)
    return f"INSERT INTO {table(model)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))})", fields
