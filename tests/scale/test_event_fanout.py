"""Scale: a 1,000-user bulk import on PostgreSQL + Redis with two qcluster processes.

Two workflows match ``user.created``; exactly 2,000 executions must result — all succeeded,
none duplicated, none missing.
"""

from __future__ import annotations

import pytest
from django.db.models import Count

from directory import services as ds
from directory.actors import Actor
from directory.models import AdminRole, DirectoryEvent
from executions.models import Execution
from tests.services import require_postgres, require_redis
from tests.workers import purge_queue, qcluster, wait_until
from workflows.services import workflow_create

pytestmark = [pytest.mark.scale, pytest.mark.django_db(transaction=True)]

USERS = 1000


def _workflow(name: str, attribute: str) -> None:
    workflow_create(
        name=name,
        definition={
            "dsl": "1.0",
            "trigger": {"type": "event", "event": "user.created"},
            "do": [
                {
                    "mark": {
                        "call": "user.update",
                        "with": {"user": "{{ event.user.id }}", "attributes": {attribute: True}},
                    }
                }
            ],
        },
        run_as=AdminRole.objects.get(key="administrator"),
        actor=None,
    )


def test_bulk_import_fans_out_exactly_once(capsys):
    require_postgres()
    require_redis()
    purge_queue()
    _workflow("welcome", "welcomed")
    _workflow("provision", "provisioned")
    with qcluster(count=2, workers=2):
        ds.users_import(
            rows=[{"username": f"s{i}", "email": f"s{i}@scale.example", "state": "active"} for i in range(USERS)],
            actor=Actor.system("scale-test"),
        )
        done = wait_until(
            lambda: Execution.objects.filter(status="succeeded").count() >= 2 * USERS, timeout=600, interval=1
        )
    total = Execution.objects.count()
    succeeded = Execution.objects.filter(status="succeeded").count()
    duplicates = Execution.objects.values("workflow", "event").annotate(n=Count("id")).filter(n__gt=1).count()
    events = DirectoryEvent.objects.filter(type="user.created").count()
    covered = Execution.objects.values("event").distinct().count()
    with capsys.disabled():
        print(
            f"\nscale: {events} user.created events → {total} executions, {succeeded} succeeded, "
            f"{duplicates} duplicated, {2 * USERS - succeeded} missing, {events - covered} events without executions"
        )
    assert done, f"only {succeeded} of {2 * USERS} executions succeeded in time"
    assert (events, total, succeeded, duplicates, covered) == (USERS, 2 * USERS, 2 * USERS, 0, USERS)
