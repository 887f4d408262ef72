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

import datetime as dt
import json
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.base.operations import BaseDatabaseOperations
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from django.dispatch import receiver

M = TypeVar("M", bound=models.Model)
R = TypeVar("R")


# How a value is prepared for the database: the field, its attname, and (by exact value type)
# what ``get_db_prep_save`` provably makes of such a value on this backend — None: the value as
# it is; else a function that returns the prepared value, or ``_MISSING`` to ask the field after
# all. Empty: always ask the field.
Shortcuts = dict[type, Callable[[Any], Any] | None]
Preparer = tuple[models.Field, str, Shortcuts]

_MISSING = object()


class JSONText:
    """A ``JSONField`` value already encoded (``json.dumps`` text, no custom encoder), for a row
    written by ``insert_rows``/``insert_many``: where the backend stores JSON as that very text
    (SQLite) it is stored as it is, instead of being decoded by the caller and encoded again by
    the field; elsewhere it is decoded and the field prepares it. A workflow step's output is
    encoded once anyway (to measure it against the size limit). Anything else that meets one
    (a ``save()``, a form) fails loudly: it is not JSON-serialisable."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"JSONText({self.text!r})"


def _json_text(value: JSONText) -> str:
    return value.text


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


@receiver(setting_changed)
def _forget_shortcuts(*, setting: str, **kwargs: Any) -> None:
    """Shortcuts depend on ``USE_TZ`` and the connection's time zone, read when first built: a
    test that overrides them must not reuse ones built for other values."""
    if setting in {"USE_TZ", "TIME_ZONE", "DATABASES"}:
        _insert.cache_clear()
        _insert_many.cache_clear()
        _field_shortcuts.cache_clear()


def _as_is_for(*types: type) -> Shortcuts:
    return dict.fromkeys((*types, type(None)), None)


class _TextShortcuts(dict):  # type: ignore[type-arg]
    """A text field's shortcuts, which also learn str subclasses (a ``TextChoices`` member such as a
    step's status): a text field stores any str as it is (``CharField.to_python``)."""

    def learn(self, value: Any) -> bool:
        if isinstance(value, str):
            self[type(value)] = None
            return True
        return False


def _utc_text(value: dt.datetime) -> Any:
    """SQLite's text for an aware UTC datetime, as its ``adapt_datetimefield_value`` writes it
    with ``USE_TZ`` and a UTC connection (``make_naive`` to UTC is dropping the zone): the ISO
    text with its ``+00:00`` cut off, which is ``str()`` of the naive datetime without building
    one (a step's records hold four datetimes, and ``replace`` was most of their cost)."""
    return value.isoformat(" ")[:-6] if value.tzinfo is dt.UTC else _MISSING


def _shortcuts(field: models.Field, conn: BaseDatabaseWrapper, *, pre_saved: bool = False) -> Shortcuts:
    """The value types whose preparation by ``field`` can be done here, on ``conn``'s backend.

    Only Django's own field classes (exactly, not subclasses, which may override preparation),
    whose ``pre_save`` only reads the attribute: a str for text, a bool for booleans and an int
    for integers and integer foreign keys are stored as they are where the backend's adapter is
    the identity (PostgreSQL's psycopg 3 adapter wraps ints, so there the field is asked);
    ``None`` by all of them; an aware UTC datetime as SQLite's text for it. Preparing a step's
    rows field by field through the ORM's method chain was a tenth of a workflow step's time.
    ``pre_saved``: the values have been through ``pre_save`` already (an update's), so a field
    that stamps its own value (``auto_now``) can be prepared by shortcut too.
    """
    kind = type(field)
    if kind is models.DateTimeField:
        reads_attribute = pre_saved or not (field.auto_now or field.auto_now_add)
        sqlite_utc = conn.vendor == "sqlite" and settings.USE_TZ and conn.timezone_name == "UTC"
        if sqlite_utc:  # imported here: the SQLite backend's modules import each other on first load
            from django.db.backends.sqlite3.operations import DatabaseOperations as SQLiteOperations

            sqlite_utc = type(conn.ops).adapt_datetimefield_value is SQLiteOperations.adapt_datetimefield_value
        return {dt.datetime: _utc_text, type(None): None} if reads_attribute and sqlite_utc else {}
    if kind.pre_save is not models.Field.pre_save and not pre_saved:
        return {}
    ops = type(conn.ops)
    if kind is models.JSONField and field.encoder is None:
        # ``adapt_json_value`` is ``json.dumps(value)`` on SQLite; PostgreSQL wraps it (``_prepare``
        # decodes a ``JSONText`` for the field there).
        as_text = ops.adapt_json_value is BaseDatabaseOperations.adapt_json_value
        return {JSONText: _json_text, type(None): None} if as_text else {type(None): None}
    plain_integers = (
        ops.adapt_integerfield_value is BaseDatabaseOperations.adapt_integerfield_value
        and ops.validate_autopk_value is BaseDatabaseOperations.validate_autopk_value
    )
    if kind is models.ForeignKey:
        return _as_is_for(int) if plain_integers and type(field.target_field) in _INTEGER_FIELDS else {}
    if kind in _TEXT_FIELDS:
        return _TextShortcuts(_as_is_for(str))
    if kind is models.BooleanField:
        return _as_is_for(bool)
    if kind in _INTEGER_FIELDS and plain_integers:
        return _as_is_for(int)
    return {}


def _prepare(field: models.Field, shortcuts: Shortcuts, value: Any, conn: BaseDatabaseWrapper) -> Any:
    """``field.get_db_prep_save(value, conn)``, by a shortcut where there is one."""
    shortcut = shortcuts.get(type(value), _MISSING)
    if shortcut is None:
        return value
    if shortcut is not _MISSING:
        prepared = shortcut(value)  # type: ignore[operator]
        if prepared is not _MISSING:
            return prepared
    elif type(shortcuts) is _TextShortcuts and shortcuts.learn(value):
        return value
    if type(value) is JSONText:
        value = json.loads(value.text)
    return field.get_db_prep_save(value, conn)


@cache
def _field_shortcuts(field: models.Field, alias: str) -> Shortcuts:
    """An update's shortcuts: its values come from ``pre_save`` already."""
    return _shortcuts(field, connections[alias], pre_saved=True)


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
        tuple((f, f.attname, _shortcuts(f, conn)) for f in fields),
    )


def _insert_values(obj: models.Model, preparers: Sequence[Preparer], conn: BaseDatabaseWrapper) -> list[Any]:
    """A new row's values as the ORM's INSERT stores them (defaults, ``auto_now_add``, adapters).

    A field with shortcuts reads its value as its ``pre_save`` would (``_shortcuts`` promises
    that); one without, or a value not set on the instance, goes through ``pre_save`` itself."""
    attributes = obj.__dict__
    values = []
    for field, attname, shortcuts in preparers:
        value = attributes.get(attname, _MISSING) if shortcuts else _MISSING
        if value is _MISSING:
            values.append(field.get_db_prep_save(field.pre_save(obj, True), conn))
        elif shortcuts.get(type(value), _MISSING) is None:  # most values: stored as they are
            values.append(value)
        else:
            values.append(_prepare(field, shortcuts, value, conn))
    return values


# --- running a statement ---------------------------------------------------------------------
#
# On the embedded SQLite backend a prepared statement runs on the driver's connection itself
# (``DatabaseWrapper.direct_connection``): Django's cursor wrapper cost a workflow step more
# Python than SQLite spent running its statements. What the wrapper guarantees is kept: a broken
# transaction is refused, driver errors become Django's (``IntegrityError``,
# ``OperationalError``), and whenever queries are being logged or wrapped the statement goes
# through Django's cursor as before, so it is seen. Other databases always use Django's cursor.


@lru_cache(maxsize=512)
def _qmark(sql: str) -> str:
    """``sql`` with Django's ``%s`` placeholders as SQLite's ``?`` (what its cursor wrapper does)."""
    from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX  # SQLite's modules load lazily

    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")


def _direct(conn: BaseDatabaseWrapper) -> Any:
    """The driver connection to run on directly (``config.sqlite_backend``), or None to go
    through Django's cursor."""
    direct = getattr(conn, "direct_connection", None)
    return direct() if direct is not None else None


def _run(sql: str, params: Sequence[Any], conn: BaseDatabaseWrapper | None, result: Callable[[Any], R]) -> R:
    """Run ``sql`` directly or through Django's cursor, and read ``result`` off the cursor."""
    conn = conn or _default()
    raw = _direct(conn)
    if raw is not None:
        with conn.wrap_database_errors:
            return result(raw.execute(_qmark(sql), params))
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return result(cursor)


def fetch_all(sql: str, params: Sequence[Any], conn: BaseDatabaseWrapper | None = None) -> list[tuple[Any, ...]]:
    """Every row ``sql`` selects."""
    return _run(sql, params, conn, _all_rows)


def fetch_one(sql: str, params: Sequence[Any], conn: BaseDatabaseWrapper | None = None) -> tuple[Any, ...] | None:
    """The first row ``sql`` returns (a SELECT, or an INSERT … RETURNING), or None."""
    return _run(sql, params, conn, _first_row)


def execute(sql: str, params: Sequence[Any], conn: BaseDatabaseWrapper | None = None) -> int:
    """Run a write; returns the number of rows it changed."""
    return _run(sql, params, conn, _row_count)


def _all_rows(cursor: Any) -> list[tuple[Any, ...]]:
    return cursor.fetchall()


def _first_row(cursor: Any) -> tuple[Any, ...] | None:
    return cursor.fetchone()


def _row_count(cursor: Any) -> int:
    return cursor.rowcount


def execute_many(sql: str, rows: Sequence[Sequence[Any]], conn: BaseDatabaseWrapper | None = None) -> None:
    """Run a write once per parameter row."""
    conn = conn or _default()
    raw = _direct(conn)
    if raw is not None:
        with conn.wrap_database_errors:
            raw.executemany(_qmark(sql), rows)
        return
    with conn.cursor() as cursor:
        cursor.executemany(sql, rows)


# --- rows ------------------------------------------------------------------------------------


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
    obj.pk = fetch_one(sql, _insert_values(obj, fields, conn), conn)[0]  # type: ignore[index]
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
    execute_many(sql, rows, conn)
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


@cache
def _conversions(model: type[models.Model], vendor: str) -> tuple[tuple[int, Callable[[Any, Any], Any]], ...]:
    """The columns (by position) that have converters: most (text, integers) have none, and a
    call per column per row was most of the cost of reading one."""
    converters = _columns(model, vendor)[2]
    return tuple((index, convert) for index, convert in enumerate(converters) if convert is not _identity)


def _converted(row: Sequence[Any], conversions: Sequence[tuple[int, Callable[[Any, Any], Any]]], conn: Any) -> Any:
    values = list(row)
    for index, convert in conversions:
        values[index] = convert(values[index], conn)
    return values


def _default() -> BaseDatabaseWrapper:
    """This thread's default connection itself: every attribute read through the ``connection``
    proxy is a thread-local lookup, and preparing one row's values made dozens of them."""
    return connections[DEFAULT_DB_ALIAS]


def select_columns(model: type[models.Model]) -> str:
    """The SELECT list ``load_rows`` expects: every concrete column, in field order."""
    return _columns(model, connection.vendor)[0]


# --- instances -------------------------------------------------------------------------------


@cache
def _plain_constructor(model: type[models.Model]) -> bool:
    """Does building ``model`` come down to Django's own ``__init__``/``from_db`` over concrete
    fields (no override, no generated column)? Then ``_loaded`` and ``new_row`` may do it."""
    return (
        model.__init__ is models.Model.__init__
        and getattr(model.from_db, "__func__", None) is models.Model.from_db.__func__
        # no class after Model in the MRO whose __init__ Django's would reach through super()
        and not any("__init__" in vars(klass) for klass in model.__mro__ if klass not in (models.Model, object))
        and all(
            not getattr(f, "generated", False) and type(vars(f.model).get(f.attname)) in _PLAIN_DESCRIPTORS
            for f in model._meta.concrete_fields
        )
    )


# Django's own attribute descriptors, which store an assigned value in the instance dict as is.
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute)


def _loaded(model: type[M], alias: str, attnames: Sequence[str], values: Sequence[Any]) -> M:
    """``model.from_db(alias, attnames, values)`` for a full row, without the per-field
    ``setattr`` loop: the values go into the instance's ``__dict__`` (where ``setattr`` puts them
    for a new instance), and the init signals are sent as Django sends them — ``post_init``
    before the instance is marked as loaded."""
    if not _plain_constructor(model) or pre_init.has_listeners(model):
        return model.from_db(alias, attnames, values)
    obj = model.__new__(model)
    obj._state = ModelState()
    obj.__dict__.update(zip(attnames, values, strict=True))
    post_init.send(sender=model, instance=obj)
    obj._state.adding = False
    obj._state.db = alias
    return obj


def new_row(model: type[M], **values: Any) -> M:
    """``model(**values)`` for values given by attname (``execution_id``, not ``execution``): the
    fields not given get their defaults, and the init signals are sent, as Django's keyword
    constructor does. A step writes two such rows, and the keyword constructor was a tenth of
    the cost of building them."""
    if not _plain_constructor(model) or pre_init.has_listeners(model):
        return model(**values)
    obj = model.__new__(model)
    obj._state = ModelState()
    attributes = obj.__dict__
    for field in model._meta.concrete_fields:
        attname = field.attname
        attributes[attname] = values.pop(attname) if attname in values else field.get_default()
    if values:
        raise TypeError(f"{model.__name__}() got unexpected keyword arguments: {', '.join(values)}")
    post_init.send(sender=model, instance=obj)
    return obj


def load_rows(model: type[M], sql: str, params: Sequence[Any]) -> list[M]:
    """Instances of ``model`` from ``sql``, which must select ``select_columns(model)``."""
    conn = _default()
    attnames = _columns(model, conn.vendor)[1]
    conversions = _conversions(model, conn.vendor)
    rows = fetch_all(sql, params, conn)
    alias = conn.alias
    return [_loaded(model, alias, attnames, _converted(row, conversions, conn)) for row in rows]


def load_joined(models_: Sequence[type[models.Model]], sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of a join as tuples of instances, one per model; ``sql`` selects ``select_columns``
    of each model in that order. A model whose primary key is NULL in a row (an outer join that
    found nothing) is None there. One statement where ``select_related`` compiled a query."""
    conn = _default()
    plans = [(model, _columns(model, conn.vendor)[1], _conversions(model, conn.vendor)) for model in models_]
    rows = fetch_all(sql, params, conn)
    alias = conn.alias
    result = []
    for row in rows:
        instances: list[Any] = []
        start = 0
        for model, attnames, conversions in plans:
            values = row[start : start + len(attnames)]
            start += len(attnames)
            pk_index = attnames.index(model._meta.pk.attname)
            if values[pk_index] is None:
                instances.append(None)
                continue
            instances.append(_loaded(model, alias, attnames, _converted(values, conversions, conn)))
        result.append(tuple(instances))
    return result


@lru_cache(maxsize=256)
def _update_sql(model: type[models.Model], columns: tuple[str, ...], alias: str) -> str:
    ops = connections[alias].ops
    qn = ops.quote_name
    assignments = ", ".join(f"{qn(column)} = %s" for column in columns)
    return f"UPDATE {qn(model._meta.db_table)} SET {assignments} WHERE {qn(model._meta.pk.column)} = %s"


@lru_cache(maxsize=256)
def _fields_to_update(model: type[models.Model], update_fields: frozenset[str]) -> tuple[models.Field, ...]:
    """The columns ``save(update_fields=…)`` writes, as ``Model._save_table`` selects them."""
    meta = model._meta
    return tuple(
        f
        for f in meta.local_concrete_fields
        if f not in meta.pk_fields and not f.generated and (f.name in update_fields or f.attname in update_fields)
    )


class PreparedUpdate:
    """Mixin for models whose single-row updates are hot (a workflow step changing a user).

    Django's ``save()`` runs as usual — ``pre_save``, related-object checks, ``auto_now``,
    signals, the "did not affect any rows" error — and only the UPDATE statement is cached
    instead of compiled per call. Anything but plain values (an ``F()`` expression, a model
    instance, a field with its own placeholder) and ``select_on_save`` go the ORM's way.

    A save with ``update_fields`` of a row that exists (every service update) also skips
    ``_save_table``'s per-call work: it compared each of the model's fields with the primary
    key's (``Field.__eq__``, twenty-odd calls) and built a queryset that the cached statement
    never uses. The fields to write are looked up once per set of names; ``pre_save`` still runs
    for each, and the errors are Django's. Everything else (an insert, ``raw``, an inherited
    model, no ``update_fields``) is ``_save_table`` itself.
    """

    def _save_table(  # type: ignore[no-untyped-def]
        self, raw=False, cls=None, force_insert=False, force_update=False, using=None, update_fields=None
    ):
        meta = self._meta  # type: ignore[attr-defined]
        if (
            raw
            or force_insert
            or not update_fields
            or cls is not type(self)
            or meta.parents
            or self._state.adding  # type: ignore[attr-defined]
            or not self._is_pk_set(meta)  # type: ignore[attr-defined]
        ):
            return super()._save_table(  # type: ignore[misc]
                raw, cls, force_insert, force_update, using, update_fields
            )
        values = [(f, None, f.pre_save(self, False)) for f in _fields_to_update(cls, frozenset(update_fields))]
        updated = self._do_update(None, using, self._get_pk_val(meta), values, update_fields, True)  # type: ignore[attr-defined]
        if not updated:
            raise DatabaseError(
                "Forced update did not affect any rows."
                if force_update
                else "Save with update_fields did not affect any rows."
            )
        return updated

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
            if base_qs is None:  # (from ``_save_table`` above, which builds it only when needed)
                base_qs = type(self)._base_manager.using(using)
            return super()._do_update(  # type: ignore[misc]
                base_qs, using, pk_val, values, update_fields, forced_update
            )
        conn = connections[using]
        sql = _update_sql(type(self), tuple(field.column for field, _, _ in values), using)
        params = [_prepare(field, _field_shortcuts(field, using), value, conn) for field, _, value in values]
        params.append(meta.pk.get_db_prep_value(pk_val, conn))
        return execute(sql, params, conn) > 0
