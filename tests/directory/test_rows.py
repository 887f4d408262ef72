"""The hand-written row statements (``directory.rows``) store and read exactly what the ORM does."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import DatabaseError, connection, models, transaction
from django.db.models import F
from django.db.models.sql.compiler import SQLUpdateCompiler
from django.test.utils import CaptureQueriesContext
from django.utils.translation import gettext_lazy

from directory import services
from directory.models import DirectoryEvent, User
from directory.rows import (
    _MISSING,
    JSONText,
    _field_shortcuts,
    _insert,
    _prepare,
    _shortcuts,
    insert_many,
    insert_rows,
    load_rows,
    new_row,
    select_columns,
)
from directory.signals import loaded_values
from executions.models import StepRun
from tests.directory.helpers import only_event

pytestmark = pytest.mark.django_db

FIELDS = [f.attname for f in User._meta.concrete_fields]


def _values(user: User) -> dict[str, object]:
    return {name: getattr(user, name) for name in FIELDS}


@pytest.fixture
def rich_user(make_user) -> User:
    """A user whose row holds every kind of value: dates, a datetime, JSON, booleans, a foreign key."""
    boss = make_user("boss")
    return make_user(
        "ann",
        manager=boss,
        hire_date=dt.date(2024, 3, 1),
        last_login_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        mfa_enrolled=True,
        attributes={"cost_center": "42", "tags": ["a", "b"], "nested": {"x": None}},
    )


def _load(pk: int) -> list[User]:
    table = connection.ops.quote_name(User._meta.db_table)
    return load_rows(User, f"SELECT {select_columns(User)} FROM {table} WHERE id = %s", [pk])


def test_loaded_rows_equal_what_the_orm_loads(rich_user):
    (loaded,) = _load(rich_user.pk)
    assert _values(loaded) == _values(User.objects.get(pk=rich_user.pk))
    assert isinstance(loaded.last_login_at, dt.datetime) and loaded.attributes["tags"] == ["a", "b"]
    assert loaded.mfa_enrolled is True and loaded._state.adding is False and loaded._state.db == "default"


def test_a_loaded_row_saved_again_reports_only_what_changed(rich_user, system):
    (loaded,) = _load(rich_user.pk)
    loaded.job_title = "Lead"
    loaded.save()
    event = only_event(type="user.updated", resource_id=str(rich_user.pk))
    assert [c["field"] for c in event.changes] == ["job_title"]


def test_no_row_loads_nothing(db):
    assert _load(10**9) == []


def test_a_prepared_update_stores_what_the_orm_stores(rich_user, make_user):
    other = make_user("bob")
    (prepared,) = _load(rich_user.pk)
    (orm,) = _load(other.pk)
    changes = {
        "job_title": "Lead",
        "hire_date": dt.date(2025, 5, 6),
        "last_login_at": dt.datetime(2026, 6, 7, 8, 9, 10, tzinfo=dt.UTC),
        "attributes": {"k": [1, {"deep": True}]},
        "account_locked": True,
        "manager_id": None,
    }
    for name, value in changes.items():
        setattr(prepared, name, value)
        setattr(orm, name, value)
    prepared.save(update_fields=[*(n.removesuffix("_id") for n in changes), "updated_at"])
    # The ORM's own statement for the other row: QuerySet.update compiles it.
    User.objects.filter(pk=other.pk).update(**changes, updated_at=prepared.updated_at)
    stored, reference = User.objects.get(pk=rich_user.pk), User.objects.get(pk=other.pk)
    for name in [*changes, "updated_at"]:
        assert getattr(stored, name) == getattr(reference, name), name


def test_a_prepared_update_compiles_no_orm_statement(rich_user, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the ORM compiled an UPDATE")

    monkeypatch.setattr(SQLUpdateCompiler, "as_sql", refuse)
    rich_user.job_title = "Lead"
    rich_user.save(update_fields=["job_title", "updated_at"])
    assert User.objects.get(pk=rich_user.pk).job_title == "Lead"


def test_expressions_still_go_the_orms_way(system):
    group = services.device_group_create(actor=system, name="laptops")
    group.description = F("name")
    group.save(update_fields=["description"])
    group.refresh_from_db()
    assert group.description == "laptops"


def test_updating_a_deleted_row_fails_as_the_orm_does(rich_user):
    User.objects.filter(pk=rich_user.pk).delete()
    rich_user.job_title = "Ghost"
    with pytest.raises(DatabaseError, match="did not affect any rows"):
        rich_user.save(update_fields=["job_title"])


def test_a_forced_update_of_a_deleted_row_fails_with_djangos_message(rich_user):
    User.objects.filter(pk=rich_user.pk).delete()
    rich_user.job_title = "Ghost"
    with pytest.raises(DatabaseError, match="Forced update did not affect any rows"):
        rich_user.save(update_fields=["job_title"], force_update=True)


def test_an_update_of_named_fields_builds_no_queryset_and_writes_only_those(rich_user, monkeypatch):
    User.objects.filter(pk=rich_user.pk).update(department="Changed elsewhere")
    stamped = rich_user.updated_at

    def refuse(*args, **kwargs):
        raise AssertionError("a queryset was built for the update")

    monkeypatch.setattr(models.QuerySet, "using", refuse)
    monkeypatch.setattr(models.Manager, "using", refuse, raising=False)
    rich_user.job_title = "Lead"
    rich_user.save(update_fields=["job_title", "updated_at"])
    monkeypatch.undo()

    stored = User.objects.get(pk=rich_user.pk)
    assert stored.job_title == "Lead"
    assert stored.department == "Changed elsewhere"  # not named: the stale value was not written back
    assert stored.updated_at == rich_user.updated_at > stamped  # ``auto_now`` went through its pre_save


def test_fields_may_be_named_by_their_attname_as_django_allows(rich_user, make_user):
    boss = make_user("new-boss")
    rich_user.manager_id = boss.pk
    rich_user.save(update_fields=["manager_id"])
    assert User.objects.get(pk=rich_user.pk).manager_id == boss.pk


def test_a_prepared_update_still_sends_the_save_signals(rich_user):
    rich_user.department = "Finance"
    rich_user.save()
    event = only_event(type="user.updated", resource_id=str(rich_user.pk))
    assert [(c["field"], c["to"]) for c in event.changes] == [("department", "Finance")]


def test_insert_many_writes_rows_as_bulk_create_does(rich_user):
    template = DirectoryEvent.objects.filter(resource_id=str(rich_user.pk)).first()
    fields = [f.attname for f in DirectoryEvent._meta.concrete_fields if not f.primary_key]
    copies = [DirectoryEvent(**{f: getattr(template, f) for f in fields}) for _ in range(3)]
    before = DirectoryEvent.objects.count()
    with CaptureQueriesContext(connection) as queries:
        insert_many(copies)
    assert DirectoryEvent.objects.count() == before + 3
    assert all(c._state.adding is False for c in copies)
    assert len([q for q in queries.captured_queries if q["sql"].startswith("INSERT")]) <= 3
    for row in DirectoryEvent.objects.order_by("-pk")[:3]:
        assert {f: getattr(row, f) for f in fields} == {f: getattr(template, f) for f in fields}


def test_insert_many_of_nothing_writes_nothing(db):
    with CaptureQueriesContext(connection) as queries:
        insert_many([])
    assert queries.captured_queries == []


def test_values_prepared_by_a_shortcut_are_exactly_what_the_field_prepares():
    """The shortcuts in ``_insert_values`` may stand in for a field's preparation only where they
    give what it gives; anything else (a lazy string, a bool in an integer column, a datetime in
    another zone) still goes through the field."""
    _, preparers = _insert(DirectoryEvent, connection.vendor)
    _, step_preparers = _insert(StepRun, connection.vendor)
    berlin = dt.timezone(dt.timedelta(hours=1))
    samples = [
        "text",
        gettext_lazy("lazy"),
        3,
        True,
        None,
        dt.datetime(2026, 1, 1, 12, 30, 5, 123, tzinfo=dt.UTC),
        dt.datetime(2026, 1, 1, 12, 30, tzinfo=berlin),
        {"a": 1},
        2.5,
        dt.datetime(2026, 1, 1, 12, 30, 5, tzinfo=dt.UTC),  # whole seconds: no fraction in the text
    ]
    used = set()
    for field, _attname, shortcuts in (*preparers, *step_preparers):
        for value in samples:
            shortcut = shortcuts.get(type(value), _MISSING)
            if shortcut is _MISSING:
                continue
            prepared = value if shortcut is None else shortcut(value)
            if prepared is _MISSING:
                continue
            expected = field.get_db_prep_save(value, connection)
            assert prepared == expected and type(prepared) is type(expected), (field.name, value)
            used.add(type(value))
    by_name = {field.name: shortcuts for field, _a, shortcuts in preparers}
    assert str in by_name["type"] and dict not in by_name["changes"]  # a JSON value is the field's to encode
    assert {str, bool, type(None)} <= used
    if connection.vendor == "sqlite":  # psycopg 3 wraps ints, and datetimes are SQLite text only
        assert {int, dt.datetime} <= used and by_name["occurred_at"][dt.datetime](samples[6]) is _MISSING

    class Upper(models.CharField):  # a subclass may prepare values its own way: never skipped
        def get_prep_value(self, value):
            return str(value).upper()

    assert _shortcuts(Upper(max_length=5), connection) == {}
    assert _shortcuts(models.DateTimeField(auto_now=True), connection) == {}


@pytest.mark.parametrize(
    "value", [{"a": [1, 2.5, None, True]}, ["x", {"ü": "é"}], "text", 0, {"1": {"nested": {}}}, {"big": "x" * 5000}]
)
def test_json_text_is_stored_as_the_field_stores_its_value(value):
    """An already encoded JSON value (``JSONText``) gives exactly what the field gives for the
    value itself: stored as it is on SQLite, decoded and prepared by the field elsewhere."""
    for model in (StepRun, DirectoryEvent):
        _, preparers = _insert(model, connection.vendor)
        for field, _attname, shortcuts in preparers:
            if not isinstance(field, models.JSONField):
                continue
            prepared = _prepare(field, shortcuts, JSONText(json.dumps(value)), connection)
            expected = field.get_db_prep_save(value, connection)
            if connection.vendor == "sqlite":
                assert prepared == expected and type(prepared) is str, field.name
            else:  # psycopg's Jsonb wrapper: compare what it wraps
                assert prepared.obj == expected.obj, field.name


def test_a_json_text_value_is_refused_by_the_orm_rather_than_stored_as_a_string(rich_user):
    for model, field in ((User, "attributes"), (StepRun, "output")):
        # (On PostgreSQL the error comes as the statement is sent, and breaks the transaction.)
        with pytest.raises(TypeError, match="not JSON serializable"), transaction.atomic():
            model.objects.filter(pk=rich_user.pk).update(**{field: JSONText('{"a": 1}')})


def test_an_inserted_event_stores_a_lazy_string_and_an_integer_as_the_orm_does(system):
    event = DirectoryEvent(
        type="user.updated", occurred_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), resource_type="user"
    )
    event.resource_name = gettext_lazy("Someone")
    event.depth = True  # a bool in an integer column is stored as 1, as the ORM stores it
    (saved,) = insert_rows([event])
    stored = DirectoryEvent.objects.get(pk=saved.pk)
    assert stored.resource_name == "Someone" and stored.depth == 1


def test_a_text_field_learns_str_subclasses_and_stores_them_as_the_field_would():
    from executions.choices import StepStatus

    field = StepRun._meta.get_field("status")
    shortcuts = _shortcuts(field, connection)
    assert StepStatus not in shortcuts
    assert _prepare(field, shortcuts, StepStatus.SUCCEEDED, connection) == field.get_db_prep_save(
        StepStatus.SUCCEEDED, connection
    )
    assert StepStatus in shortcuts  # learned: a TextChoices member is a str, stored as it is
    lazy = gettext_lazy("lazy")
    assert _prepare(field, shortcuts, lazy, connection) == "lazy" and type(lazy) not in shortcuts


def test_an_update_prepares_a_stamped_datetime_by_shortcut_as_the_field_would():
    field = User._meta.get_field("updated_at")  # auto_now: its own pre_save, already applied on update
    stamp = dt.datetime(2026, 12, 3, 8, 0, 1, 5, tzinfo=dt.UTC)
    shortcuts = _field_shortcuts(field, connection.alias)
    assert _prepare(field, shortcuts, stamp, connection) == field.get_db_prep_save(stamp, connection)
    if connection.vendor == "sqlite":
        assert dt.datetime in shortcuts and _shortcuts(field, connection) == {}


def _state_and_fields(instance: models.Model) -> tuple:
    names = [f.attname for f in type(instance)._meta.concrete_fields]
    return (instance._state.adding, instance._state.db, {n: instance.__dict__.get(n, "<unset>") for n in names})


def test_a_new_row_is_what_the_keyword_constructor_builds():
    values = {"type": "user.updated", "resource_type": "user", "caused_by_execution_id": None, "depth": 2}
    built = new_row(DirectoryEvent, **values)
    expected = DirectoryEvent(**values)
    got, want = _state_and_fields(built), _state_and_fields(expected)
    assert got[:2] == want[:2]
    # Defaults are fresh per instance (callables called), equal in value.
    assert {k: v for k, v in got[2].items() if k != "occurred_at"} == {
        k: v for k, v in want[2].items() if k != "occurred_at"
    }
    assert built.changes is not new_row(DirectoryEvent, type="x").changes
    with pytest.raises(TypeError, match="unexpected keyword arguments: nope"):
        new_row(DirectoryEvent, nope=1)


def test_a_loaded_instance_is_what_from_db_builds_and_its_loaded_values_are_remembered(rich_user):
    (loaded,) = _load(rich_user.pk)
    orm = User.objects.get(pk=rich_user.pk)
    assert _state_and_fields(loaded) == _state_and_fields(orm)
    assert loaded_values(loaded) == loaded_values(orm)  # post_init ran, as for the ORM's instance


def test_a_model_with_its_own_constructor_is_built_by_it():
    class RowsTestCustomInit(models.Model):
        class Meta:
            app_label = "directory"
            managed = False

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.seen = True

        def __str__(self) -> str:
            return "custom"

    assert new_row(RowsTestCustomInit).seen is True


def test_shortcuts_are_rebuilt_when_the_time_zone_settings_change(settings):
    _, built = _insert(DirectoryEvent, connection.vendor)
    if connection.vendor == "sqlite":
        assert dt.datetime in {f.name: shortcuts for f, _a, shortcuts in built}["occurred_at"]
    settings.USE_TZ = False  # an aware datetime must now reach Django's own error, not a shortcut
    _, rebuilt = _insert(DirectoryEvent, connection.vendor)
    occurred = {f.name: shortcuts for f, _a, shortcuts in rebuilt}["occurred_at"]
    assert dt.datetime not in occurred
