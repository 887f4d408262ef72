"""Rendering the editor: the whole page, or the pieces an edit changed (swapped out of band).

Every edit answers with the same update — top bar, canvas, save bar, and the panel when it
changed — so the page never shows a stale summary, problem count or path after an edit.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from config.htmx import render_page
from workflows.access import can_view_executions
from workflows.builder.canvas import build_lanes, build_trigger
from workflows.builder.condition_form import operator_choices
from workflows.builder.drafts import draft_conflict, draft_problems
from workflows.builder.panels import task_panel
from workflows.builder.problems import WORKFLOW, PlacedProblems, place_problems
from workflows.builder.trigger_panel import trigger_panel
from workflows.choices import WorkflowType
from workflows.dsl import Problem
from workflows.views.base import Editor

TEMPLATE = "workflows/editor.html"
URL_NAMES = (
    "canvas",
    "json",
    "picker",
    "insert",
    "move",
    "duplicate",
    "delete",
    "branch",
    "panel",
    "trigger",
    "run-as",
    "details",
    "save",
    "discard",
)
CLOSE = "close"


def editor_problems(editor: Editor) -> tuple[list[Problem], PlacedProblems]:
    """The draft's problems, once a save was refused (shown live until it is fixed)."""
    draft = editor.draft
    problems = draft_problems(draft=draft, actor=editor.user) if draft is not None and draft.show_problems else []
    return problems, place_problems(editor.document, problems)


def panel_context(editor: Editor, placed: PlacedProblems, panel: dict[str, Any] | None) -> dict[str, Any]:
    """``panel`` says which panel: ``{"task": path, …}`` or ``{"trigger": True, …}``."""
    if not panel:
        return {"panel_kind": ""}
    common = {"form_errors": panel.get("form_errors", {}), "panel_errors_only": panel.get("errors_only", False)}
    if panel.get("trigger"):
        built = trigger_panel(
            editor.document, placed, posted=panel.get("posted"), when=panel.get("when"), focus=panel.get("focus", "")
        )
        return {"panel_kind": "trigger", "panel": built, **common}
    from workflows.builder.document import EditRefused, find_task

    try:
        _lane, _index, name, task, path = find_task(editor.document, panel["task"])
    except EditRefused:
        return {"panel_kind": ""}
    built = task_panel(
        editor.document,
        path,
        name,
        task,
        placed,
        overrides=panel.get("overrides"),
        layout=panel.get("layout", ""),
        focus=panel.get("focus", ""),
    )
    return {"panel_kind": "task", "panel": built, "rename_error": panel.get("rename_error", ""), **common}


def editor_context(
    editor: Editor,
    *,
    panel: dict[str, Any] | None = None,
    focus_card: str = "",
    canvas: bool = True,
) -> dict[str, Any]:
    """Everything the editor template needs; ``canvas=False`` leaves the cards out (opening a
    panel changes nothing on them: the page marks the selected card itself)."""
    problems, placed = editor_problems(editor)
    doc = editor.document
    context = {
        "editor": editor,
        "editable": editor.editable,
        "urls": {name.replace("-", "_"): editor.url(name) for name in URL_NAMES},
        "canvas_update": canvas,
        "trigger_card": build_trigger(doc, placed) if canvas else None,
        "lane": build_lanes(doc, placed) if canvas else None,
        "problems": problems,
        "workflow_problems": placed.messages(""),
        "problem_cards": len(placed.cards - {WORKFLOW}),
        "type_label": WorkflowType(editor.trigger_type).label if editor.trigger_type in WorkflowType.values else "",
        "has_draft": editor.draft is not None,
        "conflict": draft_conflict(editor.draft) if editor.draft is not None and editor.workflow else None,
        "focus_card": focus_card,
        "operators": operator_choices(),
        "may_see_history": can_view_executions(editor.user),
        **panel_context(editor, placed, panel),
    }
    context["selected"] = context["panel"].path if context.get("panel_kind") == "task" else context["panel_kind"]
    return context


def render_editor(request: HttpRequest, editor: Editor, *, panel: dict[str, Any] | None = None) -> HttpResponse:
    """The whole editor page (or, for an HTMX request, the same update an edit returns)."""
    context = editor_context(editor, panel=panel)
    context["panel_update"] = True
    return render_page(request, TEMPLATE, context, partial="update")


def render_update(
    request: HttpRequest,
    editor: Editor,
    *,
    panel: dict[str, Any] | str | None = None,
    focus_card: str = "",
    status: int = 200,
    canvas: bool = True,
) -> HttpResponse:
    """What an edit answers: the changed pieces, out of band. ``panel``: a panel to (re)draw,
    ``CLOSE`` to close it, or None to leave it alone; ``canvas=False`` when the cards did not change."""
    context = editor_context(
        editor, panel=panel if isinstance(panel, dict) else None, focus_card=focus_card, canvas=canvas
    )
    context["panel_update"] = panel is not None
    return render_page(request, TEMPLATE, context, partial="update", status=status)


def update_html(request: HttpRequest, editor: Editor, *, panel: dict[str, Any] | None = None) -> str:
    """The editor's update as text, for responses whose main content is something else (a dialog)."""
    context = editor_context(editor, panel=panel)
    context["panel_update"] = panel is not None
    return render_to_string(f"{TEMPLATE}#update", context, request)
