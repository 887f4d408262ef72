"""The indexes on the write path: each one is written for every queued run and every change a
workflow makes, so nullable links are indexed only where set and the lookups still find them."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from directory.models import DirectoryEvent
from executions.models import Execution

pytestmark = pytest.mark.django_db


def _index_definitions(table: str) -> dict[str, str]:
    """Index name -> its SQL, as the database stores it."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s", [table])
        else:
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        return {name: sql or "" for name, sql in cursor.fetchall()}


def _index_columns(table: str) -> list[tuple[str, ...]]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [tuple(c["columns"]) for c in constraints.values() if c["index"] and not c["primary_key"]]


def test_nullable_links_of_an_execution_are_indexed_only_where_set():
    definitions = _index_definitions(Execution._meta.db_table)
    for name, column in (("execution_event_idx", "event_id"), ("execution_started_by_idx", "started_by_id")):
        assert "WHERE" in definitions[name].upper() and column in definitions[name], name
    columns = _index_columns(Execution._meta.db_table)
    assert ("event_id",) in columns and columns.count(("event_id",)) == 1
    assert columns.count(("started_by_id",)) == 1


def test_the_event_outbox_index_holds_only_events_to_dispatch_and_unused_indexes_are_gone():
    definitions = _index_definitions(DirectoryEvent._meta.db_table)
    outbox = definitions["event_undispatched_idx"]
    assert "WHERE" in outbox.upper() and "dispatched_at" in outbox
    columns = _index_columns(DirectoryEvent._meta.db_table)
    for unused in (("resource_type",), ("related_id",)):
        assert unused not in columns
    assert "event_resource_name_idx" not in definitions
    for kept in (("type",), ("occurred_at",), ("resource_id",), ("caused_by_execution_id",)):
        assert kept in columns
    assert ("resource_type", "occurred_at") in columns  # the filter by kind, newest first


def _plan(queryset) -> str:
    return queryset.explain()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plan")
def test_the_lookups_still_use_the_partial_indexes():
    """The sweeper's outbox scan, and the SET NULL of executions when an event or a user that
    started them is deleted, which read by the link: SQLite proves ``x = ?`` / ``x IN (…)``
    implies ``x IS NOT NULL``, so the partial indexes serve them."""
    assert "event_undispatched_idx" in _plan(
        DirectoryEvent.objects.filter(dispatched_at__isnull=True, occurred_at__lt=timezone.now())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert "execution_event_idx" in _plan(Execution.objects.filter(event_id__in=[1, 2]))
    assert "execution_started_by_idx" in _plan(Execution.objects.filter(started_by_id__in=[1, 2]))
    by_kind = _plan(DirectoryEvent.objects.filter(resource_type="policy").order_by("-occurred_at", "-id")[:50])
    assert "event_resource_type_idx" in by_kind


def test_deleting_an_event_or_a_user_still_unlinks_their_executions(make_workflow, administrator, django_user_model):
    from directory import services as ds
    from directory.actors import Actor
    from workflows.services import workflow_run

    workflow = make_workflow([{"t": {"call": "user.update", "with": {"user": "nobody-needed", "job_title": "x"}}}])
    starter = django_user_model.objects.create(username="starter", is_superuser=True)  # may run as any role
    execution = workflow_run(workflow=workflow, input={}, actor=starter)
    event = ds.user_create(username="evt", email="evt@example.com", actor=Actor.system("test"))
    created = DirectoryEvent.objects.filter(resource_id=str(event.pk), type="user.created").get()
    Execution.objects.filter(pk=execution.pk).update(event=created)
    created.delete()
    starter.delete()
    execution.refresh_from_db()
    assert execution.event_id is None and execution.started_by_id is None
