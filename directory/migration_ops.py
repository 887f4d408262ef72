"""Migration operations Django's own do not do cheaply.

``DropFieldIndex``: a field going from ``db_index=True`` to ``False``. Django's ``AlterField``
does it on SQLite by rebuilding the whole table (copy every row, drop, rename) — minutes for a
long audit log or execution history, under the write lock — and the rebuilt table's
AUTOINCREMENT counter restarts at the highest id left, so ids of deleted rows come back (an
event's ``caused_by_execution_id`` could then name an unrelated run). Dropping the index by the
name Django gave it is all that changes in the database; the model state changes as
``AlterField`` would change it.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import migrations


def _index_names(schema_editor: Any, table: str, column: str) -> list[str]:
    """The names Django gives a field's own index (and, on PostgreSQL, its ``_like`` twin for
    ``LIKE`` on text columns): the schema editor's own naming, so they match what it created."""
    names = [schema_editor._create_index_name(table, [column], suffix="")]
    if schema_editor.connection.vendor == "postgresql":
        names.append(schema_editor._create_index_name(table, [column], suffix="_like"))
    return names


class DropFieldIndex(migrations.SeparateDatabaseAndState):
    """``AlterField(model_name, name, field)`` where only ``db_index`` goes from True to False."""

    def __init__(self, model_name: str, name: str, field: Any) -> None:
        self.model_name, self.name, self.field = model_name, name, field
        super().__init__(
            state_operations=[migrations.AlterField(model_name=model_name, name=name, field=field)],
            database_operations=[migrations.RunPython(self._drop, self._create)],
        )

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return self.__class__.__qualname__, [], {"model_name": self.model_name, "name": self.name, "field": self.field}

    def describe(self) -> str:
        return f"Drop the index of field {self.name} on {self.model_name}"

    def _column(self, apps: Any) -> tuple[Any, Any]:
        model = apps.get_model(self._app_label, self.model_name)
        return model, model._meta.get_field(self.name)

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._app_label = app_label
        super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        self._app_label = app_label
        super().database_backwards(app_label, schema_editor, from_state, to_state)

    def _drop(self, apps: Any, schema_editor: Any) -> None:
        model, field = self._column(apps)
        for index in _index_names(schema_editor, model._meta.db_table, field.column):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")

    def _create(self, apps: Any, schema_editor: Any) -> None:
        model, field = self._column(apps)
        indexed = copy.copy(field)
        indexed.db_index = True  # as it was: PostgreSQL's text index twin is made only for indexed fields
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[indexed]))
        like_sql = getattr(schema_editor, "_create_like_index_sql", None)  # PostgreSQL's only
        like = like_sql(model, indexed) if like_sql is not None else None
        if like is not None:
            schema_editor.execute(like)
