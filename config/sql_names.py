"""Names and values for the few statements Keyflow writes out itself instead of building them
through the ORM each time (claims, the wake-up count, permission reads, natural-key lookups).

Each such statement is built once per process from the models' own tables and columns, quoted by
the database in use, and its parameters prepared by the model field, as the ORM would.
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.models import Model


def table(model: type[Model]) -> str:
    """The model's table, quoted."""
    return connection.ops.quote_name(model._meta.db_table)


def column(model: type[Model], field: str) -> str:
    """The column of the model's ``field``, quoted."""
    return connection.ops.quote_name(model._meta.get_field(field).column)


def db_value(model: type[Model], field: str, value: Any) -> Any:
    """``value`` as the database stores the model's ``field`` (a datetime: UTC text on SQLite)."""
    return model._meta.get_field(field).get_db_prep_value(value, connection)
