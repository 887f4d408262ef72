"""Writes to workflows: create, update (new version), enable, disable, delete (archive), purge, run.

Saving validates the whole definition (every problem with its task path) and the run-as
role's coverage; an invalid workflow is not saved. A save that changes the definition writes
a new immutable ``WorkflowVersion``; executions pin the version they ran.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from jsonschema import Draft202012Validator, FormatChecker

from directory.models import AdminRole
from executions.choices import TriggerKind
from executions.models import Execution
from executions.services import execution_for_idempotency_key, execution_start
from workflows.choices import WorkflowType
from workflows.dsl import Problem, validate_definition
from workflows.models import Workflow, WorkflowDraft, WorkflowVersion
from workflows.run_as import RunAsReport, check_run_as, role_permissions


class WorkflowInvalid(Exception):
    """The workflow cannot be saved (or run); ``problems`` lists every reason with its path."""

    def __init__(self, problems: list[Problem], report: RunAsReport | None = None) -> None:
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))
        self.problems = problems
        self.report = report


def workflow_check(
    *, definition: Any, run_as: AdminRole | None, now: datetime | None = None
) -> tuple[list[Problem], RunAsReport | None]:
    """Every problem with the definition and, when it is well-formed, with the run-as role."""
    problems = validate_definition(definition, now=now)
    report = None
    if not problems and run_as is not None:
        report = check_run_as(definition, run_as)
        problems = report.problems
    if run_as is None:
        problems = [*problems, Problem("run_as", "Choose the role this workflow runs as.")]
    return problems, report


def run_as_beyond_actor(run_as: AdminRole | None, actor: Any) -> list[Problem]:
    """Refuse a run-as role that could do more than the admin choosing it.

    Otherwise an Administrator could have a workflow act as Administrator with Billing and so
    reach what their own role withholds. Superusers and the system (no admin account) may
    choose any role.
    """
    if run_as is None or not getattr(actor, "pk", None) or getattr(actor, "is_superuser", False):
        return []
    beyond = sorted(role_permissions(run_as) - actor.get_all_permissions())
    if not beyond:
        return []
    shown = ", ".join(beyond[:5]) + (f" and {len(beyond) - 5} more" if len(beyond) > 5 else "")
    return [Problem("run_as", f"Run-as role {run_as.name} holds permissions you do not: {shown}.")]


def _derived_fields(definition: dict[str, Any]) -> dict[str, Any]:
    trigger = definition["trigger"]
    return {"type": trigger["type"], "trigger_event": trigger.get("event", "") if trigger["type"] == "event" else ""}


def _after_save(workflow: Workflow) -> None:
    """Keep what hangs off a workflow (its schedule) in step with it, after commit."""
    from workflows.schedules import schedule_sync

    schedule_sync(workflow=workflow)


@transaction.atomic
def workflow_create(
    *,
    name: str,
    definition: dict[str, Any],
    run_as: AdminRole | None,
    actor: Any,
    description: str = "",
    enabled: bool = True,
) -> Workflow:
    """Create a workflow and its version 1; enabled unless asked otherwise."""
    problems, _ = workflow_check(definition=definition, run_as=run_as)
    problems = [*run_as_beyond_actor(run_as, actor), *problems]
    if Workflow.objects.live().filter(name=name).exists():
        problems = [Problem("name", "A workflow with this name already exists."), *problems]
    if not name.strip():
        problems = [Problem("name", "This field is required."), *problems]
    if problems:
        raise WorkflowInvalid(problems)
    author = actor if getattr(actor, "pk", None) else None
    try:
        with transaction.atomic():
            workflow = Workflow.objects.create(
                name=name.strip(),
                description=description,
                run_as=run_as,
                enabled=enabled,
                enabled_at=timezone.now() if enabled else None,
                created_by=author,
                updated_by=author,
                **_derived_fields(definition),
            )
    except IntegrityError as exc:
        raise WorkflowInvalid([Problem("name", "A workflow with this name already exists.")]) from exc
    version = WorkflowVersion.objects.create(workflow=workflow, number=1, definition=definition, author=author)
    workflow.current_version = version
    workflow.save(update_fields=["current_version"])
    _after_save(workflow)
    return workflow


@transaction.atomic
def workflow_update(
    *,
    workflow: Workflow,
    actor: Any,
    name: str | None = None,
    description: str | None = None,
    definition: dict[str, Any] | None = None,
    run_as: AdminRole | None = None,
) -> Workflow:
    """Change a workflow; a changed definition becomes a new version."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    new_definition = definition if definition is not None else workflow.definition
    new_role = run_as if run_as is not None else workflow.run_as
    # An unchanged trigger is judged as of when it was saved: a one-off schedule whose time
    # has passed must not make every later edit of the workflow impossible.
    old_trigger = workflow.definition.get("trigger")
    unchanged = (
        workflow.current_version is not None
        and isinstance(new_definition, dict)
        and new_definition.get("trigger") == old_trigger
    )
    as_of = workflow.current_version.created_at if unchanged else None
    problems, _ = workflow_check(definition=new_definition, run_as=new_role, now=as_of)
    # On every save, not only when the role changes: editing the definition of a workflow that runs
    # as a broader role is acting through that role.
    problems = [*run_as_beyond_actor(new_role, actor), *problems]
    if name is not None:
        if not name.strip():
            problems.insert(0, Problem("name", "This field is required."))
        elif Workflow.objects.live().filter(name=name.strip()).exclude(pk=workflow.pk).exists():
            problems.insert(0, Problem("name", "A workflow with this name already exists."))
    if problems:
        raise WorkflowInvalid(problems)
    author = actor if getattr(actor, "pk", None) else None
    if name is not None:
        workflow.name = name.strip()
    if description is not None:
        workflow.description = description
    workflow.run_as = new_role
    if definition is not None and definition != workflow.definition:
        number = (workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
        version = WorkflowVersion.objects.create(workflow=workflow, number=number, definition=definition, author=author)
        workflow.current_version = version
        for field, value in _derived_fields(definition).items():
            setattr(workflow, field, value)
    workflow.updated_by = author
    workflow.save()
    _after_save(workflow)
    return workflow


@transaction.atomic
def workflow_set_enabled(*, workflow: Workflow, enabled: bool, actor: Any) -> Workflow:
    """Enable or disable. Enabling never replays events that happened while disabled; an admin may
    enable only a workflow whose run-as role holds no permission they lack (it then runs as that role
    on every trigger). Disabling is always allowed."""
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if enabled and workflow.archived_at is not None:
        raise WorkflowInvalid([Problem("workflow", "This workflow was deleted; it cannot be enabled.")])
    if enabled and not workflow.enabled:
        problems = run_as_beyond_actor(workflow.run_as, actor)
        if problems:
            raise WorkflowInvalid(problems)
    if workflow.enabled != enabled:
        workflow.enabled = enabled
        workflow.enabled_at = timezone.now() if enabled else workflow.enabled_at
        workflow.updated_by = actor if getattr(actor, "pk", None) else None
        workflow.save(update_fields=["enabled", "enabled_at", "updated_by", "updated_at"])
        _after_save(workflow)
    return workflow


@transaction.atomic
def workflow_delete(*, workflow: Workflow, actor: Any) -> Workflow:
    """Delete a workflow as an admin sees it: archived, so its history stays.

    It stops (disabled, schedule removed), leaves the overview, the builder and the API's workflow
    list, and frees its name; its versions, executions and steps stay readable and exportable in
    the history until ``workflow_purge``. Executions still queued or waiting are cancelled: they
    belong to a workflow that no longer runs.
    """
    from executions.services import executions_cancel_for_workflow
    from workflows.schedules import schedule_delete

    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if workflow.archived_at is not None:
        return workflow
    schedule_delete(workflow=workflow)
    workflow.enabled = False
    workflow.archived_at = timezone.now()
    workflow.archived_by = actor if getattr(actor, "pk", None) else None
    workflow.updated_by = workflow.archived_by
    workflow.save(update_fields=["enabled", "archived_at", "archived_by", "updated_by", "updated_at"])
    WorkflowDraft.objects.filter(workflow=workflow).delete()
    executions_cancel_for_workflow(workflow=workflow, actor=actor)
    return workflow


PURGE_BATCH = 1000


class PurgeRefused(Exception):
    """Only a deleted (archived) workflow's history may be purged."""


@transaction.atomic
def workflow_purge(*, workflow: Workflow, actor: Any) -> int:
    """Remove a deleted workflow for good: its executions, steps and versions. Returns how many
    executions went. Refused for a workflow not deleted first, so history is never lost in one step.
    """
    workflow = Workflow.objects.select_for_update().get(pk=workflow.pk)
    if workflow.archived_at is None:
        raise PurgeRefused("Delete the workflow first; only a deleted workflow's history can be purged.")
    from executions.services import executions_delete

    count = 0
    while ids := list(Execution.objects.filter(workflow=workflow).values_list("pk", flat=True)[:PURGE_BATCH]):
        count += executions_delete(execution_ids=ids)
    Workflow.objects.filter(pk=workflow.pk).update(current_version=None)
    WorkflowVersion.objects.filter(workflow=workflow).delete()
    Workflow.objects.filter(pk=workflow.pk).delete()
    return count


@lru_cache(maxsize=256)
def _input_validator(schema_json: str) -> Draft202012Validator:
    """One validator per distinct input schema (building one cost more than validating)."""
    return Draft202012Validator(json.loads(schema_json), format_checker=FormatChecker())


def input_problems(workflow: Workflow, data: Any) -> list[Problem]:
    """Where ``data`` breaks the workflow's input schema (``input.<path>: message``)."""
    schema = (workflow.definition.get("input") or {}).get("schema") or {"type": "object"}
    validator = _input_validator(json.dumps(schema, sort_keys=True))
    problems = []
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path)):
        path = "input" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problems.append(Problem(path, error.message))
    return problems


def workflow_run(
    *,
    workflow: Workflow,
    input: Any,
    actor: Any,
    trigger_kind: str = TriggerKind.MANUAL,
    idempotency_key: str | None = None,
) -> Execution:
    """Start a manual (UI, shell) or API run; refused with every input error when input is invalid,
    and refused (``run_as`` problem) when an admin runs a workflow whose run-as role holds permissions
    they lack. The shell and the system (no admin account) may run any workflow.

    A retried call with an idempotency key that was already used returns that execution, even
    if the workflow was disabled in between: the caller's first attempt did succeed.
    """
    refused = run_as_beyond_actor(workflow.run_as, actor)
    if refused:  # running is acting as the run-as role: not beyond what the admin may do themselves
        raise WorkflowInvalid(refused)
    if idempotency_key:
        existing = execution_for_idempotency_key(workflow=workflow, key=idempotency_key, input=input)
        if existing is not None:
            return existing
    if workflow.type == WorkflowType.EVENT:
        raise WorkflowInvalid([Problem("workflow", "Event workflows start on their directory event, not by hand.")])
    if not workflow.enabled:
        raise WorkflowInvalid([Problem("workflow", "This workflow is disabled; enable it to run it.")])
    if input is None:
        input = {}
    problems = input_problems(workflow, input)
    if problems:
        raise WorkflowInvalid(problems)
    execution, _ = execution_start(
        workflow=workflow,
        trigger_kind=trigger_kind,
        input=input,
        started_by=actor,
        idempotency_key=idempotency_key,
    )
    return execution


def as_validation_error(exc: WorkflowInvalid) -> ValidationError:
    """The problems as a Django ValidationError keyed by path (for forms and the admin)."""
    errors: dict[str, list[str]] = {}
    for problem in exc.problems:
        errors.setdefault(problem.path, []).append(problem.message)
    return ValidationError(errors)
