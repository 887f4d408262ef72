"""The Run dialog of a manual workflow: input from a form or as JSON, checked before anything starts.

The run goes through ``workflows.services.workflow_run`` — the service the API's run endpoint
uses — and the browser is sent to the new execution's page.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from config.htmx import render_page
from executions.choices import TriggerKind
from workflows.access import can_run_workflows
from workflows.builder.run_form import input_from_form, run_fields
from workflows.choices import WorkflowType
from workflows.services import WorkflowInvalid, input_problems, workflow_run
from workflows.views.base import editor_required, load_editor

TEMPLATE = "workflows/run_dialog.html"
_REQUIRED = re.compile(r"^'([^']+)' is a required property$")


def _placed(problems: list[Any]) -> tuple[dict[str, list[str]], list[str]]:
    """Input problems by field (``input.email`` → ``email``), the rest apart."""
    by_field: dict[str, list[str]] = {}
    other: list[str] = []
    for problem in problems:
        path = problem.path
        missing = _REQUIRED.match(problem.message) if path == "input" else None
        if missing:
            by_field.setdefault(missing.group(1), []).append("This field is required.")
        elif path.startswith("input.") and path[6:]:
            name = path[6:].split(".")[0].split("[")[0]
            by_field.setdefault(name, []).append(problem.message)
        else:
            other.append(problem.message)
    return by_field, other


@require_http_methods(["GET", "POST"])
@editor_required
def run(request: HttpRequest, workflow_id: int) -> HttpResponse:
    editor = load_editor(request, workflow_id=workflow_id)
    workflow = editor.workflow
    if workflow.type != WorkflowType.MANUAL:
        raise Http404("Only manual workflows are run from the builder.")
    if not can_run_workflows(request.user):
        raise PermissionDenied("Your admin role may not run workflows.")
    definition = workflow.definition
    context: dict[str, Any] = {
        "editor": editor,
        "workflow": workflow,
        "url": editor.url("run"),
        "mode": "form",
        "json_text": "{}",
        "errors": [],
        "has_draft": editor.draft is not None,
    }
    if request.method == "GET":
        context["fields"] = run_fields(definition)
        return render_page(request, TEMPLATE, context, partial="dialog")
    mode = "json" if request.POST.get("mode") == "json" else "form"
    context["mode"] = mode
    if mode == "json":
        text = request.POST.get("input_json", "").strip() or "{}"
        context["json_text"] = text
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            context["fields"] = run_fields(definition)
            context["errors"] = [f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."]
            return render_page(request, TEMPLATE, context, partial="body")
        form_errors: dict[str, str] = {}
    else:
        data, form_errors = input_from_form(definition, request.POST)
        context["json_text"] = json.dumps(data, indent=2)
    problems = input_problems(workflow, data)
    fields = run_fields(definition, data if isinstance(data, dict) else {})
    by_field, other = _placed(problems)
    for f in fields:
        f.errors = ([form_errors[f.name]] if f.name in form_errors else []) + by_field.get(f.name, [])
        if f.name in form_errors:
            f.value = request.POST.get(f.input_name, "")
    context["fields"] = fields
    if problems or form_errors:
        context["errors"] = other if mode == "form" else [f"{p.path}: {p.message}" for p in problems]
        return render_page(request, TEMPLATE, context, partial="body")
    try:
        execution = workflow_run(workflow=workflow, input=data, actor=request.user, trigger_kind=TriggerKind.MANUAL)
    except WorkflowInvalid as exc:
        context["errors"] = [problem.message for problem in exc.problems]
        return render_page(request, TEMPLATE, context, partial="body")
    return HttpResponseClientRedirect(f"/executions/{execution.pk}/")
