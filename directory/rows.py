"""Reading, inserting and updating rows with hand-written statements where the ORM's cost dominates.

Every directory change a workflow makes writes an event row. ``bulk_create`` spent about a
millisecond building that one INSERT — more than the database took to run it, and the biggest
single cost left in a workflow step. The statement here is built once per model from its
metadata; each value goes through its field's own ``pre_save`` and ``get_db_prep_save``, so
JSON, dates and defaults are stored exactly as the ORM stores them. Like ``bulk_create`` it
sends no signals. Several rows (an import) go through ``bulk_create``, which writes them in a few
multi-row statements; so do backends that cannot return ids from an INSERT.

The same holds for the one-row reads and updates every workflow step makes: ``load_rows`` turns
rows into instances through ``Model.from_db`` with the fields' own converters (what a queryset
does, without compiling one per call), and ``PreparedUpdate`` gives a model a ``save()`` whose
UPDATE is a cached statement — the save itself, its checks and its signals are Django's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations

M = TypeVar("M", bound=models.Model)


# How a value is prepared for the database: the field, its attname, and the exact value types
# its ``get_db_prep_save`` returns unchanged on this backend (empty: always ask the field).
Preparer = tuple[models.Field, str, frozenset[type]]

_MISSING = object()
_TEXT = frozenset({str, type(None)})
_TEXT_FIELDS = (models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField)
_INTEGER_FIELDS = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
)


def _unchanged_types(field: models.Field, conn: BaseDatabaseWrapper) -> frozenset[type]:
    """The value types ``field.get_db_prep_save`` provably returns as they are on ``conn``'s backend.

    Only Django's own field classes (exactly, not subclasses, which may override preparation),
    whose ``pre_save`` reads the attribute, and only where the backend's adapter is the
    identity: a str for text, a bool for booleans, an int for integers and integer foreign keys
    (PostgreSQL's psycopg 3 adapter wraps ints, so there the field is asked). ``None`` is
    returned as is by all of them. Preparing a step's rows field by field through the ORM's
    method chain was a tenth of a workflow step's Python time.
    """
    if type(field).pre_save is not models.Field.pre_save:
        return frozenset()
    ops = type(conn.ops)
    plain_integers = (
        ops.adapt_integerfield_value is BaseDatabaseOperations.adapt_integerfield_value
        and ops.validate_autopk_value is BaseDatabaseOperations.validate_autopk_value
    )
    kind = type(field)
    if kind is models.ForeignKey:
        target = field.target_field
        return frozenset({int, type(None)}) if plain_integers and type(target) in _INTEGER_FIELDS else frozenset()
    if kind in _TEXT_FIELDS:
        return _TEXT
    if kind is models.BooleanField:
        return frozenset({bool, type(None)})
    if kind in _INTEGER_FIELDS and plain_integers:
        return frozenset({int, type(None)})
    return frozenset()


@cache
def _field_unchanged_types(field: models.Field, vendor: str) -> frozenset[type]:
    return _unchanged_types(field, _default())


@cache
def _insert(model: type[models.Model], vendor: str) -> tuple[str, tuple[Preparer, ...]]:
    conn = _default()
    qn = conn.ops.quote_name
    pk = model._meta.pk
    fields = tuple(f for f in model._meta.concrete_fields if f is not pk)
    columns = ", ".join(qn(f.column) for f in fields)
    marks = ", ".join(["%s"] * len(fields))
    return (
        f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES ({marks}) RETURNING {qn(pk.column)}",
        tuple((f, f.attname, _unchanged_types(f, conn)) for f in fields),
    )


def _insert_values(obj: models.Model, preparers: Sequence[Preparer], conn: BaseDatabaseWrapper) -> list[Any]:
    """A new row's values as the ORM's INSERT stores them (defaults, ``auto_now_add``, adapters)."""
    attributes = obj.__dict__
    values = []
    for field, attname, unchanged in preparers:
        if unchanged:
            value = attributes.get(attname, _MISSING)
            if type(value) in unchanged:
                values.append(value)
                continue
        values.append(field.get_db_prep_save(field.pre_save(obj, True), conn))
    return values


def insert_rows(objs: Sequence[M]) -> list[M]:
    """Insert new, unsaved instances of one model; sets their primary keys and returns them."""
    if not objs:
        return list(objs)
    model = type(objs[0])
    conn = _default()
    if len(objs) > 1 or not conn.features.can_return_columns_from_insert:
        return model.objects.bulk_create(objs)
    (obj,) = objs
    sql, fields = _insert(model, conn.vendor)
    with conn.cursor() as cursor:
        cursor.execute(sql, _insert_values(obj, fields, conn))
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = conn.alias
    return [obj]


@cache
def _insert_many(model: type[models.Model], vendor: str) -> tuple[str, tuple[Preparer, ...]]:
    sql, fields = _insert(model, vendor)
    return sql.rpartition(" RETURNING ")[0], fields


def insert_many(objs: Sequence[models.Model]) -> None:
    """Insert new, unsaved instances of one model in one ``executemany``, when their ids are not
    needed afterwards (step records written at a group's commit): ``bulk_create`` compiled a
    multi-row statement whose cost grew with every row. The instances keep ``pk = None``."""
    if not objs:
        return
    conn = _default()
    sql, fields = _insert_many(type(objs[0]), conn.vendor)
    rows = [_insert_values(obj, fields, conn) for obj in objs]
    with conn.cursor() as cursor:
        cursor.executemany(sql, rows)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = conn.alias


@cache
def _columns(model: type[models.Model], vendor: str) -> tuple[str, tuple[str, ...], tuple[Callable[..., Any], ...]]:
    """The model's concrete columns as a SELECT list, their attnames, and (per column) the
    converters a queryset would apply to what the database returns."""
    qn = connection.ops.quote_name
    table = model._meta.db_table
    fields = model._meta.concrete_fields
    converters = []
    for f in fields:
        col = f.get_col(table)
        chain = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        converters.append(_chain(chain, col))
    select = ", ".join(f"{qn(table)}.{qn(f.column)}" for f in fields)
    return select, tuple(f.attname for f in fields), tuple(converters)


def _chain(converters: list[Callable[..., Any]], expression: Any) -> Callable[[Any, Any], Any]:
    if not converters:
        return _identity

    def convert(value: Any, conn: BaseDatabaseWrapper) -> Any:
        for converter in converters:
            value = converter(value, expression, conn)
        return value

    return convert


def _identity(value: Any, conn: BaseDatabaseWrapper) -> Any:
    return value


def _default() -> BaseDatabaseWrapper:
    """This thread's default connection itself: every attribute read through the ``connection``
    proxy is a thread-local lookup, and preparing one row's values made dozens of them."""
    return connections[DEFAULT_DB_ALIAS]


def select_columns(model: type[models.Model]) -> str:
    """The SELECT list ``load_rows`` expects: every concrete column, in field order."""
    return _columns(model, connection.vendor)[0]


def load_rows(model: type[M], sql: str, params: Sequence[Any]) -> list[M]:
    """Instances of ``model`` from ``sql``, which must select ``select_columns(model)``."""
    conn = _default()
    _, attnames, converters = _columns(model, conn.vendor)
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    alias = conn.alias
    return [
        model.from_db(alias, attnames, [convert(value, conn) for convert, value in zip(converters, row, strict=True)])
        for row in rows
    ]


@lru_cache(maxsize=256)
def _update_sql(model: type[models.Model], columns: tuple[str, ...], alias: str) -> str:
    ops = connections[alias].ops
    qn = ops.quote_name
    assignments = ", ".join(f"{qn(column)} = %s" for column in columns)
    return f"UPDATE {qn(model._meta.db_table)} SET {assignments} WHERE {qn(model._meta.pk.column)} = %s"


class PreparedUpdate:
    """Mixin for models whose single-row updates are hot (a workflow step changing a user).

    Django's ``save()`` runs as usual — ``pre_save``, related-object checks, ``auto_now``,
    signals, the "did not affect any rows" error — and only the UPDATE statement is cached
    instead of compiled per call. Anything but plain values (an ``F()`` expression, a model
    instance, a field with its own placeholder) and ``select_on_save`` go the ORM's way.
    """

    def _do_update(  # type: ignore[no-untyped-def]
        self, base_qs, using, pk_val, values, update_fields, forced_update
    ):
        meta = self._meta  # type: ignore[attr-defined]
        if (
            not values
            or meta.select_on_save
            or any(
                hasattr(value, "resolve_expression")
                or hasattr(value, "prepare_database_save")
                or hasattr(field, "get_placeholder")
                for field, _, value in values
            )
        ):
            return super()._do_update(  # type: ignore[misc]
                base_qs, using, pk_val, values, update_fields, forced_update
            )
        conn = connections[using]
        sql = _update_sql(type(self), tuple(field.column for field, _, _ in values), using)
        params = [
            value if type(value) in _field_unchanged_types(field, conn.vendor) else field.get_db_prep_save(value, conn)
            for field, _, value in values
        ]
        params.append(meta.pk.get_db_prep_value(pk_val, conn))
        with conn.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.rowcount > 0
