"""Draft services: every write the builder makes before Save, and Save itself.

One draft per (workflow, admin) holds a whole DSL document and the version it started from;
a new workflow's draft has no workflow yet. Edits lock the draft row, apply a change to a copy of
its document and write it back, so two tabs of the same admin cannot lose each other's edits.
Saving goes through ``workflows.services`` (``workflow_create`` / ``workflow_update``), exactly as
the API does, and is refused when another version was saved after the draft began.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction
from django.utils import timezone

from directory.models import AdminRole
from workflows.builder.document import EditRefused
from workflows.choices import WorkflowType
from workflows.dsl import DSL_VERSION, Problem
from workflows.models import Workflow, WorkflowDraft
from workflows.services import WorkflowInvalid, run_as_beyond_actor, workflow_check, workflow_create, workflow_update

__all__ = [
    "DraftConflict",
    "draft_create",
    "draft_discard",
    "draft_for",
    "draft_problems",
    "draft_save",
    "draft_start",
    "draft_update",
    "new_definition",
]

T = TypeVar("T")


class DraftConflict(Exception):
    """Another version was saved after the draft started; saving it would undo that silently."""


def new_definition(trigger_type: str) -> dict[str, Any]:
    """The document a new workflow starts with: its trigger card and no tasks."""
    triggers: dict[str, dict[str, Any]] = {
        WorkflowType.MANUAL: {"type": "manual"},
        WorkflowType.EVENT: {"type": "event", "event": ""},
        WorkflowType.SCHEDULE: {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "UTC"},
    }
    doc: dict[str, Any] = {"dsl": DSL_VERSION, "trigger": triggers[trigger_type]}
    if trigger_type == WorkflowType.MANUAL:
        doc["input"] = {"schema": {"type": "object", "properties": {}}}
    doc["do"] = []
    return doc


def draft_for(*, workflow: Workflow, owner: Any) -> WorkflowDraft | None:
    """The admin's draft of ``workflow``, if they have one (a selector)."""
    return (
        WorkflowDraft.objects.select_related("run_as__group", "base_version")
        .filter(workflow=workflow, owner=owner)
        .first()
    )


@transaction.atomic
def draft_start(*, workflow: Workflow, actor: Any) -> WorkflowDraft:
    """The admin's draft of ``workflow``, started from its current version if there is none."""
    draft, _created = WorkflowDraft.objects.get_or_create(
        workflow=workflow,
        owner=actor,
        defaults={
            "base_version": workflow.current_version,
            "definition": copy.deepcopy(workflow.definition),
            "name": workflow.name,
            "description": workflow.description,
            "run_as": workflow.run_as,
            "enabled": workflow.enabled,
        },
    )
    return draft


@transaction.atomic
def draft_create(*, trigger_type: str, name: str, description: str, actor: Any) -> WorkflowDraft:
    """A new workflow's draft, from the create dialog. The name must be free (checked again on save)."""
    name = name.strip()
    if trigger_type not in WorkflowType.values:
        raise EditRefused("Choose Manual, Event or Schedule.", field="type")
    if not name:
        raise EditRefused("Give the workflow a name.", field="name")
    if Workflow.objects.live().filter(name__iexact=name).exists():
        raise EditRefused("A workflow with this name already exists.", field="name")
    return WorkflowDraft.objects.create(
        owner=actor,
        definition=new_definition(trigger_type),
        name=name,
        description=description.strip(),
        enabled=True,
    )


@transaction.atomic
def draft_update(
    *,
    draft: WorkflowDraft,
    actor: Any,
    edit: Callable[[dict[str, Any]], T] | None = None,
    **fields: Any,
) -> tuple[WorkflowDraft, T | None]:
    """Apply ``edit`` to the draft's document and set ``fields`` (name, description, run_as, enabled,
    show_problems).

    ``edit`` changes the document in place and returns anything the caller needs (a new task's
    path); raising ``EditRefused`` leaves the draft as it was.
    """
    locked = WorkflowDraft.objects.select_for_update().get(pk=draft.pk, owner=actor)
    result = None
    changed = ["updated_at"]
    if edit is not None:
        document = copy.deepcopy(locked.definition)
        result = edit(document)
        locked.definition = document
        changed.append("definition")
    for name, value in fields.items():
        if name not in {"name", "description", "run_as", "enabled", "show_problems"}:
            raise TypeError(f"draft_update does not set {name!r}")
        setattr(locked, name, value)
        changed.append(name)
    locked.save(update_fields=changed)
    return locked, result


@transaction.atomic
def draft_discard(*, draft: WorkflowDraft, actor: Any) -> None:
    """Throw the draft away; the saved workflow is untouched."""
    WorkflowDraft.objects.filter(pk=draft.pk, owner=actor).delete()


def _conflict_message(workflow: Workflow, draft: WorkflowDraft) -> str:
    current = workflow.current_version
    started = f"version {draft.base_version.number}" if draft.base_version else "an earlier version"
    who = getattr(current.author, "username", "") if current and current.author_id else ""
    when = timezone.localtime(current.created_at).strftime("%Y-%m-%d %H:%M") if current else ""
    by = f" by {who}" if who else ""
    return (
        f"Version {current.number if current else '?'} of this workflow was saved{by} at {when}, after you "
        f"started editing {started}. Your draft was not saved, so their changes are not overwritten. "
        "Copy what you need from the JSON view, then discard your draft to continue from their version."
    )


def draft_conflict(draft: WorkflowDraft) -> str | None:
    """Why saving ``draft`` would be refused as out of date, or None."""
    workflow = draft.workflow
    if workflow is None or workflow.current_version_id == draft.base_version_id:
        return None
    return _conflict_message(workflow, draft)


def draft_save(*, draft: WorkflowDraft, actor: Any) -> Workflow:
    """Save the draft as the workflow's new version (or as a new workflow) and delete it.

    Raises ``DraftConflict`` when another version was saved meanwhile, and ``WorkflowInvalid``
    with every problem when the services refuse it — the draft is then kept and marked so the
    builder shows its problems until they are fixed.
    """
    try:
        with transaction.atomic():
            locked = WorkflowDraft.objects.select_for_update().get(pk=draft.pk, owner=actor)
            if locked.workflow_id is not None:
                # of=("self",): PostgreSQL cannot lock the nullable side of the version's outer join.
                workflow = (
                    Workflow.objects.select_for_update(of=("self",))
                    .select_related("current_version__author")
                    .get(pk=locked.workflow_id)
                )
                if workflow.current_version_id != locked.base_version_id:
                    raise DraftConflict(_conflict_message(workflow, locked))
                saved = workflow_update(
                    workflow=workflow,
                    actor=actor,
                    name=locked.name,
                    description=locked.description,
                    definition=locked.definition,
                    run_as=locked.run_as,
                )
            else:
                saved = workflow_create(
                    name=locked.name,
                    description=locked.description,
                    definition=locked.definition,
                    run_as=locked.run_as,
                    enabled=locked.enabled,
                    actor=actor,
                )
            locked.delete()
    except WorkflowInvalid:
        WorkflowDraft.objects.filter(pk=draft.pk).update(show_problems=True)
        raise
    return saved


def draft_problems(*, draft: WorkflowDraft, actor: Any) -> list[Problem]:
    """Every problem saving the draft would report now (the services' own checks, without writing)."""
    workflow = draft.workflow
    as_of = None
    unchanged = workflow is not None and (draft.definition or {}).get("trigger") == workflow.definition.get("trigger")
    if unchanged and workflow.current_version is not None:
        as_of = workflow.current_version.created_at
    problems, _report = workflow_check(definition=draft.definition, run_as=draft.run_as, now=as_of)
    if workflow is None or draft.run_as_id != workflow.run_as_id:
        problems = [*run_as_beyond_actor(draft.run_as, actor), *problems]
    name = draft.name.strip()
    taken = Workflow.objects.live().filter(name=name)
    if workflow is not None:
        taken = taken.exclude(pk=workflow.pk)
    if not name:
        problems.insert(0, Problem("name", "This field is required."))
    elif taken.exists():
        problems.insert(0, Problem("name", "A workflow with this name already exists."))
    return problems


def role_or_none(role_id: Any) -> AdminRole | None:
    """The admin role with this id, or None."""
    try:
        return AdminRole.objects.select_related("group").get(pk=int(role_id))
    except (AdminRole.DoesNotExist, TypeError, ValueError):
        return None
