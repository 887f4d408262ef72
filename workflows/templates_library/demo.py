"""The demo's workflows: three templates made into workflows by ``seed_demo``, with a first run each.

Registered with ``directory.demo`` (which knows nothing of workflows) when the app is ready. The
runs are queued, not run here: the worker that ``make run`` starts picks them up, so a new install
opens on working workflows with a little history. A second seed finds the workflows and does nothing.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from directory.demo import SeedReport
from directory.models import User
from workflows.models import Workflow
from workflows.services import workflow_run
from workflows.templates_library.library import get_template
from workflows.templates_library.services import template_instantiate

CHANNEL = "IT email list"


def _head_of(department: str) -> str | None:
    head = User.objects.filter(department=department, manager__isnull=True).order_by("pk").first()
    return head.email if head is not None else None


def _demo_inputs() -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            "onboarding-by-department",
            {
                "department": "Engineering",
                "groups": ["Engineering", "VPN Users"],
                "manager": _head_of("Engineering"),
                "channel": CHANNEL,
            },
        ),
        ("offboarding", {"it_channel": CHANNEL}),
        ("suspend-inactive-users", {"channel": CHANNEL}),
    ]


def seed_demo_workflows(report: SeedReport) -> None:
    """Create the demo workflows that are missing and queue a first run of the new ones."""
    created: dict[str, Workflow] = {}
    for key, inputs in _demo_inputs():
        template = get_template(key)
        name = template.render_name(template.clean(inputs))
        if Workflow.objects.filter(name=name).exists():
            continue
        created[key] = template_instantiate(template=template, inputs=inputs, actor=None)
        report.count("workflows")
    if "suspend-inactive-users" in created:
        workflow_run(workflow=created["suspend-inactive-users"], input={}, actor=None)
        report.count("queued runs")
    leaver = User.objects.filter(state="active", termination_date__lt=timezone.localdate()).order_by("username").first()
    if "offboarding" in created and leaver is not None:
        data = {"user": leaver.email, "reason": "Last day was yesterday (demo)", "erase_after_days": 7}
        workflow_run(workflow=created["offboarding"], input=data, actor=None)
        report.count("queued runs")
