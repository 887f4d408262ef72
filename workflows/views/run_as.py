"""The Run-as dialog: the roles, the narrowest suggested, what a role lacks, the least-privilege warning."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views.decorators.http import require_http_methods

from config.htmx import render_page
from workflows.builder.drafts import draft_update, role_or_none
from workflows.builder.run_as_choices import role_choices
from workflows.run_as import check_run_as, narrowest_builtin_role
from workflows.services import run_as_beyond_actor
from workflows.views.base import Editor, editor_required, load_editor
from workflows.views.rendering import update_html

TEMPLATE = "workflows/run_as_dialog.html"


def _context(editor: Editor) -> dict[str, Any]:
    definition = editor.document
    selected = editor.run_as
    warnings: list[str] = []
    refused: list[str] = []
    if selected is not None:
        report = check_run_as(definition, selected)
        suggested, warnings = report.narrowest_role, report.warnings
        refused = [p.message for p in run_as_beyond_actor(selected, editor.user)]
    else:
        suggested = narrowest_builtin_role(definition)
    choices = role_choices(definition, suggested)
    chosen = next((c for c in choices if selected is not None and c.role.pk == selected.pk), None)
    return {
        "editor": editor,
        "choices": choices,
        "suggested": suggested,
        "chosen": chosen,
        "warnings": warnings,
        "refused": refused,
        "url": editor.url("run-as"),
    }


@require_http_methods(["GET", "POST"])
@editor_required
def run_as(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    editor = load_editor(request, workflow_id, draft_id)
    if request.method == "GET":
        return render_page(request, TEMPLATE, _context(editor), partial="dialog")
    role = role_or_none(request.POST.get("role"))
    if role is not None:
        editor.draft, _ = draft_update(draft=editor.editing_draft(), actor=request.user, run_as=role)
    body = render_to_string(f"{TEMPLATE}#body", {**_context(editor), "focus_role": role.pk if role else None}, request)
    return HttpResponse(body + update_html(request, editor))
