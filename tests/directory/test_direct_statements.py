"""Hand-written statements run on SQLite's driver connection directly (``directory.rows``), and
keep what Django's cursor guaranteed: wrapped errors, refusal inside a broken transaction, and
being seen by query capture."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.transaction import TransactionManagementError
from django.test.utils import CaptureQueriesContext

from directory.models import User
from directory.rows import _direct, _qmark, execute, execute_many, fetch_all, fetch_one

pytestmark = pytest.mark.django_db

TABLE = connection.ops.quote_name(User._meta.db_table)


@pytest.fixture(params=["direct", "django cursor"])
def mode(request):
    """Run each test both ways: directly, and with queries captured (through Django's cursor)."""
    if request.param == "direct":
        yield request.param
        return
    with CaptureQueriesContext(connection) as captured:
        yield captured


def test_reads_and_writes_give_what_the_orm_sees(make_user, mode):
    ann = make_user("ann")
    assert fetch_one(f"SELECT username FROM {TABLE} WHERE id = %s", [ann.pk]) == ("ann",)
    assert fetch_all(f"SELECT username FROM {TABLE} WHERE id IN (%s, %s)", [ann.pk, -1]) == [("ann",)]
    assert execute(f"UPDATE {TABLE} SET job_title = %s WHERE id = %s", ["Lead", ann.pk]) == 1
    assert execute(f"UPDATE {TABLE} SET job_title = %s WHERE id = %s", ["Lead", -1]) == 0
    execute_many(f"UPDATE {TABLE} SET department = %s WHERE id = %s", [["A", ann.pk], ["B", ann.pk]])
    ann.refresh_from_db()
    assert (ann.job_title, ann.department) == ("Lead", "B")
    if mode != "direct":  # every statement was seen
        seen = [q["sql"] for q in mode.captured_queries]
        assert sum("SET job_title = " in sql for sql in seen) == 2
        assert sum("SET department = " in sql for sql in seen) == 1
        assert sum("SELECT username FROM" in sql for sql in seen) == 2


def test_driver_errors_become_djangos(make_user, mode):
    ann = make_user("ann")
    with pytest.raises(IntegrityError), transaction.atomic():
        execute(f"UPDATE {TABLE} SET username = %s WHERE id = %s", [make_user("bob").username, ann.pk])


def test_a_broken_transaction_refuses_further_statements(make_user, mode):
    ann = make_user("ann")
    with transaction.atomic():
        connection.needs_rollback = True
        with pytest.raises(TransactionManagementError):
            fetch_one(f"SELECT username FROM {TABLE} WHERE id = %s", [ann.pk])
        transaction.set_rollback(True)


def test_the_direct_path_is_sqlites_only_and_steps_aside_for_capture(db):
    connection.ensure_connection()
    assert (_direct(connection) is not None) == (connection.vendor == "sqlite")
    with CaptureQueriesContext(connection):
        assert _direct(connection) is None
    with connection.execute_wrapper(lambda execute, sql, params, many, context: execute(sql, params, many, context)):
        assert _direct(connection) is None


def test_placeholders_become_sqlites_and_a_literal_percent_stays():
    assert _qmark("SELECT %s, '100%%' WHERE a = %s") == "SELECT ?, '100%' WHERE a = ?"


def test_a_savepoint_rolls_back_only_its_own_writes(make_user, mode):
    ann = make_user("ann")
    with transaction.atomic():
        execute(f"UPDATE {TABLE} SET department = %s WHERE id = %s", ["Kept", ann.pk])
        with pytest.raises(RuntimeError), transaction.atomic():
            execute(f"UPDATE {TABLE} SET job_title = %s WHERE id = %s", ["Gone", ann.pk])
            raise RuntimeError("step failed")
    ann.refresh_from_db()
    assert (ann.department, ann.job_title) == ("Kept", "")
    if mode != "direct":
        seen = " ".join(q["sql"] for q in mode.captured_queries)
        assert "SAVEPOINT" in seen and "ROLLBACK TO SAVEPOINT" in seen and "RELEASE SAVEPOINT" in seen
