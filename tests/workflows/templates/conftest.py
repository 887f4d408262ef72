"""Fixtures for the template library: the demo company, a real local webhook receiver, and helpers
that run a template's workflow the way its trigger would (a schedule slot, a directory event, a
manual run) in this process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from django_q.models import Schedule

from directory import services as ds
from directory.actors import Actor
from directory.demo import seed
from executions.models import Execution
from executions.tasks import run_execution
from tests.workflows.net.conftest import ScriptedServer
from workflows.models import Workflow
from workflows.schedules import fire, schedule_name
from workflows.services import workflow_run
from workflows.templates_library import get_template
from workflows.templates_library.services import template_instantiate

# What an admin would enter for each template on the demo company. "IT webhook" is the channel the
# tests add, pointing at a local HTTP server; "IT email list" is the demo's own (Django's outbox).
DEMO_INPUTS: dict[str, dict[str, Any]] = {
    "onboarding-by-department": {
        "department": "Engineering",
        "groups": ["Engineering", "VPN Users"],
        "manager": "priya.murphy@example.com",
        "channel": "IT email list",
    },
    "offboarding": {"it_channel": "IT webhook", "erase_after_days": 7},
    "offboard-on-termination-date": {"channel": "IT webhook"},
    "contractor-expiry-reminder": {"days": 14},
    "reactivate-user": {},
    "suspend-inactive-users": {"days": 90, "channel": "IT email list"},
    "quarantine-inactive-devices": {"days": 30, "quarantine_group": "Quarantine"},
    "device-compliance-disk-encryption": {
        "os_family": "windows",
        "remediation_group": "Needs remediation",
        "command": "Enable BitLocker",
    },
    "device-compliance-firewall": {
        "os_family": "windows",
        "remediation_group": "Needs remediation",
        "command": "Enable Windows Firewall",
    },
    "mfa-enforcement": {"mfa_group": "MFA Required", "grace_days": 7, "escalate_days": 14},
    "lost-or-stolen-device": {"security_channel": "IT webhook", "wait_hours": 24},
    "new-device-by-os": {
        "windows_group": "Windows Devices",
        "macos_group": "macOS Devices",
        "linux_group": "Linux Devices",
        "policy": "Screen lock after 5 minutes",
    },
}


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    receiver = ScriptedServer()
    yield receiver
    receiver.close()


@pytest.fixture
def demo(db: None, settings: Any, server: ScriptedServer) -> ScriptedServer:
    """The demo company (without its demo workflows), plus a webhook channel to a local server."""
    settings.KEYFLOW_DISPATCH_INLINE = True
    settings.KEYFLOW_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    seed(extras=False)
    ds.channel_create(actor=Actor.system("test"), name="IT webhook", kind="webhook", webhook_url=server.url("/it"))
    return server


@pytest.fixture
def instantiate(administrator: Any) -> Callable[..., Workflow]:
    def make(key: str, **overrides: Any) -> Workflow:
        template = get_template(key)
        return template_instantiate(template=template, inputs={**DEMO_INPUTS[key], **overrides}, actor=administrator)

    return make


def finish(execution: Execution) -> Execution:
    run_execution(execution.pk, heartbeat=False)
    execution.refresh_from_db()
    return execution


def run_slot(workflow: Workflow) -> Execution:
    """Fire the slot the workflow's schedule is armed for, as django-q2 would at that time, and run it."""
    slot = Schedule.objects.get(name=schedule_name(workflow.pk)).next_run
    execution, created = fire(workflow_id=workflow.pk, slot=slot, now=slot)
    assert created
    return finish(execution)


def run_event(django_capture_on_commit_callbacks: Any, workflow: Workflow, change: Callable[[], Any]) -> Any:
    """Make a directory change, commit it (dispatch runs), and run the workflow's execution for it."""
    with django_capture_on_commit_callbacks(execute=True):
        result = change()
    execution = Execution.objects.get(workflow=workflow)
    return result, finish(execution)


def run_manual(workflow: Workflow, data: dict[str, Any], actor: Any) -> Execution:
    return finish(workflow_run(workflow=workflow, input=data, actor=actor))


def steps(execution: Execution) -> list[tuple[str, str]]:
    """(name, status) of every step record, in run order."""
    return [(s.name, s.status) for s in execution.steps.order_by("sequence")]


def step_runs(execution: Execution, name: str) -> list[Any]:
    return list(execution.steps.filter(name=name).order_by("sequence"))


class Clock:
    """Moves Django's clock forward (``timezone.now`` everywhere), as time passing would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = timedelta(0)
        real = timezone.now
        monkeypatch.setattr(timezone, "now", lambda: real() + self.offset)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)
