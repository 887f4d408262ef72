"""Using a template: its inputs become a workflow (API, ``manage.py``) or a draft (the builder).

Both check the inputs first (every error at once, by input name), then render the document and
hand it to the same services as any other workflow: ``workflow_create`` validates it and the
run-as role, and a draft is saved through ``draft_save`` after the admin reviewed it. The role
is the template's suggestion, the narrowest built-in role that covers its actions.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from directory.models import AdminRole
from workflows.models import Workflow, WorkflowDraft
from workflows.services import workflow_create
from workflows.templates_library.library import Template, TemplateInputsInvalid

__all__ = ["suggested_role", "template_draft_create", "template_instantiate"]


def suggested_role(template: Template) -> AdminRole:
    return AdminRole.objects.select_related("group").get(key=template.run_as)


def _prepare(template: Template, inputs: dict[str, Any], name: str | None) -> tuple[dict[str, Any], str]:
    """The rendered document and the workflow's name, or every input error (``name`` among them)."""
    errors: dict[str, list[str]] = {}
    try:
        values = template.clean(inputs)
    except TemplateInputsInvalid as exc:
        errors, values = dict(exc.errors), None
    chosen = name.strip() if name is not None else (template.render_name(values) if values is not None else "")
    if name is not None and not chosen:
        errors["name"] = ["Give the workflow a name."]
    elif chosen and Workflow.objects.filter(name__iexact=chosen).exists():
        errors["name"] = [f"A workflow named {chosen!r} already exists; choose another name."]
    if errors:
        raise TemplateInputsInvalid(errors)
    return template.render(values), chosen


@transaction.atomic
def template_instantiate(
    *, template: Template, inputs: dict[str, Any], actor: Any, name: str | None = None, enabled: bool = True
) -> Workflow:
    """A new workflow from ``template``, saved at once (validated like any other) and running as the
    suggested role. Raises ``TemplateInputsInvalid`` for bad inputs and ``WorkflowInvalid`` if the
    result is refused (a role the actor may not choose)."""
    definition, chosen = _prepare(template, inputs, name)
    return workflow_create(
        name=chosen,
        description=template.description,
        definition=definition,
        run_as=suggested_role(template),
        enabled=enabled,
        actor=actor,
    )


@transaction.atomic
def template_draft_create(
    *, template: Template, inputs: dict[str, Any], actor: Any, name: str | None = None
) -> WorkflowDraft:
    """A new workflow's draft from ``template``, for the admin to review on the canvas and save.
    Nothing runs until it is saved; saving enables it (the draft's switch can change that)."""
    definition, chosen = _prepare(template, inputs, name)
    return WorkflowDraft.objects.create(
        owner=actor,
        definition=definition,
        name=chosen,
        description=template.description,
        run_as=suggested_role(template),
        enabled=True,
    )
