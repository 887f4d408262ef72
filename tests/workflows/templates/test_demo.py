"""``seed_demo`` installs three templates as workflows, with a first run each for the worker."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from executions.models import Execution
from executions.tasks import run_execution
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def test_seed_demo_installs_three_template_workflows_with_a_little_history(settings):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "3 workflows, 2 queued runs" in out.getvalue()
    workflows = {w.name: w for w in Workflow.objects.select_related("run_as")}
    assert {name: w.run_as.key for name, w in workflows.items()} == {
        "Onboarding: Engineering": "help-desk",
        "Offboarding": "manager",
        "Suspend users inactive for 90 days": "manager",
    }
    assert all(w.enabled for w in workflows.values())
    runs = list(Execution.objects.order_by("pk"))
    assert [r.workflow.name for r in runs] == ["Suspend users inactive for 90 days", "Offboarding"]
    assert [run_execution(r.pk, heartbeat=False) for r in runs] == ["succeeded", "waiting"]  # the erase waits

    again = StringIO()
    call_command("seed_demo", stdout=again)
    assert "workflows" not in again.getvalue() and "queued runs" not in again.getvalue()
    assert Workflow.objects.count() == 3 and Execution.objects.count() == 2
