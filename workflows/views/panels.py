"""Card panels: a task's form (params, branches, loop, Advanced) and the trigger's.

A panel posts itself on every change; the draft takes the new task and the canvas is redrawn,
while the panel stays as the admin left it (its field errors and path are refreshed out of
band). Buttons that change the panel's shape (add a row, switch to a raw expression, add an
attribute) post with ``op`` and get the panel redrawn, focus on what they added.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from workflows.builder import document
from workflows.builder.condition_form import ConditionForm
from workflows.builder.document import EditRefused
from workflows.builder.drafts import draft_update
from workflows.builder.panels import GUARD, task_from_form
from workflows.builder.param_forms import LAYOUT_OPS
from workflows.builder.trigger_panel import WHEN, trigger_from_form
from workflows.views.base import editor_required, load_editor, viewer_required
from workflows.views.canvas import refused
from workflows.views.rendering import CLOSE, render_update


def _condition_overrides(data: Any, op: str) -> tuple[dict[str, ConditionForm], str]:
    """Condition editors as posted (``op`` applied to the one it names) and the element to focus."""
    overrides: dict[str, ConditionForm] = {}
    focus = ""
    prefixes = {GUARD} | {key.partition(":")[0] + ":" for key in data if key.startswith("case")}
    for prefix in prefixes:
        if f"{prefix}mode" not in data:
            continue
        form = ConditionForm.from_post(prefix, data)
        if op.startswith(f"cond:{prefix}"):
            form.apply(op[len(f"cond:{prefix}") :])
            focus = prefix
        overrides[prefix] = form
    return overrides, focus


@require_http_methods(["GET", "POST"])
def panel(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    if request.method == "GET":
        return _open_panel(request, workflow_id=workflow_id, draft_id=draft_id)
    return _apply_panel(request, workflow_id=workflow_id, draft_id=draft_id)


@viewer_required
def _open_panel(request: HttpRequest, **ids: Any) -> HttpResponse:
    editor = load_editor(request, **ids)
    if request.GET.get("close"):
        return render_update(request, editor, panel=CLOSE, canvas=False)
    panel = {"task": request.GET.get("path", ""), "focus": "panel-title"}
    return render_update(request, editor, panel=panel, canvas=False)


@editor_required
def _apply_panel(request: HttpRequest, **ids: Any) -> HttpResponse:
    editor = load_editor(request, **ids)
    data = request.POST
    path = data.get("path", "")
    op = data.get("op", "")
    overrides, focus = _condition_overrides(data, op)
    state: dict[str, Any] = {"form_errors": {}, "rename_error": ""}

    def apply(doc: dict[str, Any]) -> str:
        lane, index, name, task, where = document.find_task(doc, path)
        updated, state["form_errors"] = task_from_form(task, data)
        lane[index] = {name: updated}
        new_name = data.get("name", name)
        if new_name.strip() != name:
            try:
                where = document.rename_task(doc, where, new_name)
            except EditRefused as refusal:
                state["rename_error"] = refusal.message
        return where

    try:
        editor.draft, where = draft_update(draft=editor.editing_draft(), actor=request.user, edit=apply)
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    # Without a button's edit the panel stays as typed; only its messages and path are refreshed.
    redraw = bool(op) or bool(state["form_errors"]) or bool(state["rename_error"])
    panel = {
        "task": where,
        "overrides": overrides,
        "layout": op if op.partition(":")[0] in LAYOUT_OPS else "",
        "focus": focus or ("panel-name" if state["rename_error"] else ""),
        "form_errors": state["form_errors"],
        "rename_error": state["rename_error"],
        "errors_only": not redraw,
    }
    return render_update(request, editor, panel=panel)


@require_http_methods(["GET", "POST"])
def trigger(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    if request.method == "GET":
        return _open_trigger(request, workflow_id=workflow_id, draft_id=draft_id)
    return _apply_trigger(request, workflow_id=workflow_id, draft_id=draft_id)


@viewer_required
def _open_trigger(request: HttpRequest, **ids: Any) -> HttpResponse:
    editor = load_editor(request, **ids)
    return render_update(request, editor, panel={"trigger": True, "focus": "panel-title"}, canvas=False)


@editor_required
def _apply_trigger(request: HttpRequest, **ids: Any) -> HttpResponse:
    editor = load_editor(request, **ids)
    data = request.POST.copy()
    op = data.get("op", "")
    name, _, target = op.partition(":")
    focus = ""
    if name == "add-input":
        data.appendlist("input-rows", f"f{target}")
        focus = f"input-f{target}-name"
    elif name == "remove-input":
        data.setlist("input-rows", [row for row in data.getlist("input-rows") if row != target])
        focus = "add-input"
    elif name == "input-mode":
        data["input_mode"] = target
        focus = "input-schema" if target == "schema" else "add-input"
    elif name == "preset":
        data["cron"] = target
        focus = "cron"
    when = None
    if f"{WHEN}mode" in data:
        when = ConditionForm.from_post(WHEN, data)
        if op.startswith(f"cond:{WHEN}"):
            when.apply(op[len(f"cond:{WHEN}") :])
            focus = WHEN
    state: dict[str, Any] = {}

    def apply(doc: dict[str, Any]) -> None:
        before = (doc.get("trigger") or {}).get("event")
        state["errors"] = trigger_from_form(doc, data)
        # A new event type brings other fields: the filter's variable picker must list them.
        state["event_changed"] = (doc.get("trigger") or {}).get("event") != before

    try:
        editor.draft, _ = draft_update(draft=editor.editing_draft(), actor=request.user, edit=apply)
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    redraw = bool(op) or bool(state["errors"]) or state["event_changed"]
    panel = {
        "trigger": True,
        "posted": data,
        "when": when,
        "focus": focus,
        "form_errors": state["errors"],
        "errors_only": not redraw,
    }
    return render_update(request, editor, panel=panel)
