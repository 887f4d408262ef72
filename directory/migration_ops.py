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

from typing import Any

from django.db import migrations


def _index_names(schema_editor: Any, table: str, column: str) -> list[str]:
    """The names Django gives a field's own index (and, on PostgreSQL, its ``_like`` twin for
    ``LIKE`` on text columns): the schema editor's own naming, so they match what it created."""
    names = [schema_editor._create_index_name(table, [column], suffix="")]
    if schema_editor.connection.vendor == "postgresql":
        names.append(schema_editor._create_index_name(table, [column], suffix="_like"))
    return names


class DropFieldIndex(migrations.AlterField):
    """``AlterField`` where only ``db_index`` goes from True to False: the state changes as
    ``AlterField`` changes it; the database only loses (backwards: regains) the field's index."""

    def describe(self) -> str:
        return f"Drop the index of field {self.name} on {self.model_name}"

    def database_forwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.name).column
        for index in _index_names(schema_editor, model._meta.db_table, column):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(index)}")

    def database_backwards(self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)  # indexed again in the state going back to
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        like_sql = getattr(schema_editor, "_create_like_index_sql", None)  # PostgreSQL's only
        like = like_sql(model, field) if like_sql is not None else None
        if like is not None:
            schema_editor.execute(like)
