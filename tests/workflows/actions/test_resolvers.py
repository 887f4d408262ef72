"""A param naming a directory object finds it by id or natural key, in one statement, whole."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from directory import services as ds
from directory.models import Device, User
from workflows.actions.base import ActionError
from workflows.actions.resolvers import resolve
from workflows.permissions import has_model_perm

pytestmark = pytest.mark.django_db


def _perm(app_label: str, codename: str) -> Permission:
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


@pytest.fixture
def people(administrator):
    ann = ds.user_create(actor=administrator, username="ann", email="ann@x.example", job_title="Lead")
    bob = ds.user_create(actor=administrator, username="bob", email="bob@x.example")
    # A username that is another user's id, as text: both match, so the reference is ambiguous.
    digits = ds.user_create(actor=administrator, username=str(ann.pk), email="digits@x.example")
    return ann, bob, digits


@pytest.mark.parametrize("value", ["ann", "ann@x.example", " ann "])
def test_a_natural_key_reads_the_whole_row_in_one_statement(people, value):
    ann = people[0]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        found = resolve("user", value, lock=True)
    assert len(queries) == 1
    assert found == ann and found.job_title == "Lead" and found.get_deferred_fields() == set()
    assert not found._state.adding and found._state.db == "default"
    assert queries[0]["sql"].endswith("FOR UPDATE") == connection.features.has_select_for_update


def test_a_read_without_lock_never_locks(people):
    with CaptureQueriesContext(connection) as queries:
        assert resolve("user", "bob").username == "bob"
    assert "FOR UPDATE" not in queries[0]["sql"]


def test_a_found_row_saves_like_one_the_orm_read(people, administrator):
    with transaction.atomic():
        ann = resolve("user", "ann", lock=True)
        ds.user_update(user=ann, actor=administrator, locked=True, department="Sales")
    assert User.objects.get(pk=ann.pk).department == "Sales"


def test_digits_that_are_an_id_and_a_username_are_ambiguous(people):
    ann, _bob, digits = people
    with pytest.raises(ActionError, match="more than one user"):
        resolve("user", str(ann.pk))
    assert resolve("user", ann.pk) == ann  # a number is an id only
    assert resolve("user", "digits@x.example") == digits


def test_no_match_and_the_case_insensitive_fallback(people):
    assert resolve("user", "ANN@X.EXAMPLE").username == "ann"
    with pytest.raises(ActionError, match="No user matches 'nobody'"):
        resolve("user", "nobody")


def test_other_kinds_resolve_by_their_own_key(administrator):
    device = ds.device_create(actor=administrator, hostname="pc-7", serial_number="S7", os_family="windows")
    assert resolve("device", "pc-7") == device
    assert isinstance(resolve("device", str(device.pk)), Device)


def test_a_model_permission_is_held_directly_or_through_a_group(make_admin):
    principal = make_admin("role-principal")
    group = Group.objects.create(name="holders")
    group.permissions.add(_perm("directory", "delete_device"))
    principal.groups.add(group)
    principal.user_permissions.add(_perm("workflows", "view_workflow"))
    assert has_model_perm(principal, "directory.delete_device")
    assert has_model_perm(principal, "workflows.view_workflow")
    assert not has_model_perm(principal, "workflows.delete_workflow")
    assert not has_model_perm(make_admin("no-grants"), "directory.delete_device")
