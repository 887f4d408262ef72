"""An update checks uniqueness only where a changed field can collide, and still refuses a
duplicate when one can."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext

from directory import services
from directory.models import Device, User
from directory.services import _may_collide, _unique_field_names

pytestmark = pytest.mark.django_db


def test_the_unique_fields_of_a_user_are_known():
    assert _unique_field_names(User) == {"username", "email"}
    assert {"hostname"} <= _unique_field_names(Device)


def test_only_a_change_to_a_unique_field_needs_a_uniqueness_check():
    everything_but = [f.name for f in User._meta.concrete_fields]
    assert not _may_collide(User, [n for n in everything_but if n != "job_title"])
    assert _may_collide(User, [n for n in everything_but if n != "email"])


def test_changing_a_title_runs_no_uniqueness_query_and_a_duplicate_email_is_still_refused(make_user, system):
    ann, bob = make_user("ann"), make_user("bob")
    with CaptureQueriesContext(connection) as queries:
        services.user_update(user=ann, actor=system, job_title="Lead")
    assert not [
        q for q in queries.captured_queries if q["sql"].startswith("SELECT 1 AS") and "directory_user" in q["sql"]
    ]
    with pytest.raises(ValidationError) as error:
        services.user_update(user=ann, actor=system, email=bob.email)
    assert "email" in error.value.message_dict
