"""Which events user state changes write, and with what changes."""

from __future__ import annotations

import pytest

from directory import services
from directory.models import DirectoryEvent

pytestmark = pytest.mark.django_db


def _types() -> list[str]:
    return list(DirectoryEvent.objects.order_by("id").values_list("type", flat=True))


def test_suspend_writes_only_the_specific_event(administrator):
    user = services.user_create(actor=administrator, username="ann", email="ann@example.com", state="active")
    services.user_suspend(user=user, actor=administrator)
    assert _types() == ["user.created", "user.suspended"]
    event = DirectoryEvent.objects.get(type="user.suspended")
    assert event.changes == [{"field": "state", "from": "active", "to": "suspended"}]
    assert (event.actor_type, event.actor_name) == ("admin", administrator.username)


def test_state_change_with_other_fields_also_writes_updated_with_only_those(administrator):
    user = services.user_create(actor=administrator, username="bo", email="bo@example.com", state="active")
    services.user_update(user=user, actor=administrator, state="suspended", termination_date="2026-12-01")
    updated = DirectoryEvent.objects.get(type="user.updated")
    assert updated.changes == [{"field": "termination_date", "from": None, "to": "2026-12-01"}]
    assert DirectoryEvent.objects.filter(type="user.suspended").count() == 1
