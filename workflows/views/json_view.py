"""The JSON view: the whole document, editable, with the validator's problems listed by path.

Applying it replaces the draft's document — the canvas then draws it — unless the canvas could
not draw it at all (not an object, a task that is not one key…), which is refused with where
and why. Every other problem is listed here and marked on its card, as Save would.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from config.htmx import render_page
from workflows.builder.document import drawable_problems
from workflows.builder.drafts import draft_update
from workflows.dsl import validate_definition
from workflows.views.base import Editor, editor_required, load_editor, viewer_required
from workflows.views.rendering import editor_context

TEMPLATE = "workflows/editor.html"


def _render(request: HttpRequest, editor: Editor, text: str, errors: list[str], problems: list) -> HttpResponse:
    context = editor_context(editor)
    context.update({"view": "json", "json_text": text, "json_errors": errors, "json_problems": problems})
    return render_page(request, TEMPLATE, context, partial="json_form")


@require_http_methods(["GET", "POST"])
def json_view(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    if request.method == "GET":
        return _show(request, workflow_id=workflow_id, draft_id=draft_id)
    return _apply(request, workflow_id=workflow_id, draft_id=draft_id)


@viewer_required
def _show(request: HttpRequest, **ids: int | None) -> HttpResponse:
    editor = load_editor(request, **ids)
    text = json.dumps(editor.document, indent=2, ensure_ascii=False)
    return _render(request, editor, text, [], [])


@editor_required
def _apply(request: HttpRequest, **ids: int | None) -> HttpResponse:
    editor = load_editor(request, **ids)
    text = request.POST.get("definition", "")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return _render(
            request, editor, text, [f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."], []
        )
    undrawable = drawable_problems(document)
    if undrawable:
        errors = [f"{path or 'document'}: {message}" for path, message in undrawable]
        return _render(request, editor, text, ["The canvas cannot show this document:", *errors], [])
    problems = validate_definition(document)

    def replace(doc: dict) -> None:
        doc.clear()
        doc.update(document)

    fields = {"show_problems": True} if problems else {}
    editor.draft, _ = draft_update(draft=editor.editing_draft(), actor=request.user, edit=replace, **fields)
    if not problems:
        return HttpResponseClientRedirect(editor.url("canvas"))
    return _render(request, editor, text, [], problems)
