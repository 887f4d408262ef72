"""A worker loads an execution's workflow, run-as role and version with prepared statements that
give exactly what the ORM gives."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory.models import AdminRole
from directory.rows import load_joined, select_columns
from executions import tasks
from workflows.dispatch import is_listened
from workflows.models import Workflow, WorkflowVersion

pytestmark = pytest.mark.django_db

NOOP = [{"a": {"call": "user.update", "with": {"user": "{{ input.user }}", "job_title": "x"}}}]


def _fields(instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in type(instance)._meta.concrete_fields}


def test_the_workflow_comes_with_its_role_group_and_principal_in_one_statement(make_workflow, admin_role):
    workflow = make_workflow(NOOP)
    with CaptureQueriesContext(connection) as queries:
        loaded = tasks._workflow(workflow.pk)
        role = loaded.run_as
        names = (role.name, role.group.name, role.principal.username if role.principal else None)
    assert len(queries) == 1
    expected = Workflow.objects.select_related("run_as__group", "run_as__principal").get(pk=workflow.pk)
    assert _fields(loaded) == _fields(expected)
    assert _fields(role) == _fields(expected.run_as) and _fields(role.group) == _fields(expected.run_as.group)
    assert names == (
        expected.run_as.name,
        expected.run_as.group.name,
        getattr(expected.run_as.principal, "username", None),
    )
    assert role.principal is not None and _fields(role.principal) == _fields(expected.run_as.principal)


def test_a_role_without_a_principal_loads_as_none(make_workflow, admin_role):
    workflow = make_workflow(NOOP)
    AdminRole.objects.filter(pk=admin_role.pk).update(principal=None)
    loaded = tasks._workflow(workflow.pk)
    with CaptureQueriesContext(connection) as queries:
        assert loaded.run_as.principal is None
    assert len(queries) == 0


def test_the_version_is_what_the_orm_loads(make_workflow):
    workflow = make_workflow(NOOP)
    loaded = tasks._version(workflow.current_version_id)
    assert _fields(loaded) == _fields(WorkflowVersion.objects.get(pk=workflow.current_version_id))
    assert loaded.definition["do"] == NOOP


def test_missing_rows_raise_does_not_exist(db):
    with pytest.raises(Workflow.DoesNotExist):
        tasks._workflow(10**9)
    with pytest.raises(WorkflowVersion.DoesNotExist):
        tasks._version(10**9)


def test_load_joined_of_no_rows_is_empty(db):
    table = connection.ops.quote_name(Workflow._meta.db_table)
    assert load_joined([Workflow], f"SELECT {select_columns(Workflow)} FROM {table} WHERE id = %s", [-1]) == []


def test_listening_follows_enabled_event_workflows(make_workflow):
    assert not is_listened("user.suspended")
    workflow = make_workflow(NOOP, trigger={"type": "event", "event": "user.suspended"})
    assert is_listened("user.suspended") and not is_listened("user.activated")
    Workflow.objects.filter(pk=workflow.pk).update(enabled=False)
    assert not is_listened("user.suspended")


def test_the_role_links_are_cached_both_ways_as_select_related_caches_them(make_workflow):
    workflow = make_workflow(NOOP)
    loaded = tasks._workflow(workflow.pk)
    with CaptureQueriesContext(connection) as queries:
        role = loaded.run_as
        assert role.group.admin_role is role
        assert role.principal is None or role.principal.principal_of is role
    assert len(queries) == 0
