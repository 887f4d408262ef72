"""Fixtures for action tests: a small directory built through the services, and a way to run one
action as a one-step workflow through the real engine (save-time checks, the runner, step records)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import count
from typing import Any

import pytest

from directory import services as ds
from directory.models import AdminRole, DirectoryEvent
from executions.models import Execution, StepRun
from executions.tasks import run_execution
from workflows.services import workflow_create, workflow_run

_names = count(1)


@dataclass
class Ran:
    """One action run as a workflow: the execution and its step."""

    execution: Execution
    step: StepRun

    @property
    def output(self) -> Any:
        return self.step.output

    @property
    def error(self) -> str:
        return self.step.error

    @property
    def status(self) -> str:
        return self.step.status


@pytest.fixture
def admin_role(db: None) -> AdminRole:
    return AdminRole.objects.get(key="administrator")


@pytest.fixture
def call(administrator: Any, admin_role: AdminRole) -> Callable[..., Ran]:
    """Run action ``key`` with ``params`` as the only step of a manual workflow, as ``role``."""

    def go(key: str, params: dict[str, Any], *, role: AdminRole | None = None) -> Ran:
        workflow = workflow_create(
            name=f"{key} #{next(_names)}",
            definition={"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"step": {"call": key, "with": params}}]},
            run_as=role or admin_role,
            actor=administrator,
        )
        execution = workflow_run(workflow=workflow, input={}, actor=administrator)
        run_execution(execution.pk, heartbeat=False)
        execution.refresh_from_db()
        return Ran(execution, execution.steps.get(name="step"))

    return go


@pytest.fixture
def world(administrator: Any) -> dict[str, Any]:
    """Ann (Sales, staged, MFA, owns the Linux laptop lin-042 with an agent), Bob (manages nobody
    yet), group Sales, device group Laptops (lin-042, bound to policy Encrypt), a second device
    pc-7 (Windows, no agent), the command Uptime."""
    a = administrator
    ann = ds.user_create(
        actor=a, username="ann", email="ann@example.com", department="Sales", mfa_enrolled=True, first_name="Ann"
    )
    bob = ds.user_create(actor=a, username="bob", email="bob@example.com", department="Engineering", state="active")
    sales = ds.group_create(actor=a, name="Sales")
    ds.group_add_member(group=sales, user=ann, actor=a)
    laptop = ds.device_create(actor=a, hostname="lin-042", os_family="linux", os_version="24.04", owner=ann)
    pc = ds.device_create(actor=a, hostname="pc-7", os_family="windows", os_version="10.0.19045")
    laptops = ds.device_group_create(actor=a, name="Laptops")
    ds.device_group_add_member(device_group=laptops, device=laptop, actor=a)
    policy = ds.policy_create(actor=a, name="Encrypt", type="disk_encryption")
    ds.policy_bind(policy=policy, device_group=laptops, actor=a)
    uptime = ds.command_create(actor=a, name="Uptime", script="uptime", timeout_seconds=30)
    enrolment, _ = ds.agent_enrolment_token_create(device=laptop, actor=a)
    ds.agent_enrol(enrolment=enrolment)
    return {
        "ann": ann,
        "bob": bob,
        "sales": sales,
        "laptop": laptop,
        "pc": pc,
        "laptops": laptops,
        "policy": policy,
        "uptime": uptime,
    }


def events_since(mark: int) -> list[DirectoryEvent]:
    return list(DirectoryEvent.objects.filter(pk__gt=mark).order_by("pk"))


def last_event() -> int:
    return DirectoryEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
