"""The canvas and its card edits: add (the + picker), move (drag and drop, or up/down), duplicate,
delete, and branches of an If / else. Every edit changes the admin's draft and answers with the
redrawn canvas."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET, require_POST

from config.htmx import render_page
from workflows.actions.registry import get_action
from workflows.builder import document
from workflows.builder.canvas import slug
from workflows.builder.catalogue import actions_by_category
from workflows.builder.document import EditRefused
from workflows.builder.drafts import draft_update
from workflows.views.base import Editor, editor_required, load_editor, viewer_required
from workflows.views.rendering import CLOSE, render_editor, render_update

FLOWS = (
    ("if_else", "If / else", "Run different tasks depending on a condition; add more branches for a switch."),
    ("loop", "Loop", "Run tasks once for each item of a list (users found, devices, input values)."),
)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def refused(request: HttpRequest, editor: Editor, refusal: EditRefused) -> HttpResponse:
    """An edit that cannot be made: the canvas as it is, and the reason as a toast."""
    response = render_update(request, editor)
    response["HX-Trigger"] = json.dumps({"keyflow:notice": refusal.message})
    return response


@require_GET
@viewer_required
def canvas(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    editor = load_editor(request, workflow_id, draft_id)
    panel = None
    if request.GET.get("card"):
        panel = {"task": request.GET["card"]}
    elif request.GET.get("trigger"):
        panel = {"trigger": True}
    return render_editor(request, editor, panel=panel)


@require_GET
@editor_required
def picker(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """The + picker: Actions by category (from the registry) and Flows, for one place in a lane."""
    editor = load_editor(request, workflow_id, draft_id)
    context = {
        "editor": editor,
        "insert_url": editor.url("insert"),
        "lane": request.GET.get("lane", "do"),
        "index": _int(request.GET.get("index")),
        "categories": actions_by_category(),
        "flows": FLOWS,
    }
    return render_page(request, "workflows/picker_dialog.html", context)


@require_POST
@editor_required
def insert(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """Add a card where the + was; its panel opens so it can be set up at once."""
    editor = load_editor(request, workflow_id, draft_id)
    kind = request.POST.get("kind", "")
    action_key = request.POST.get("action", "")
    if kind == "call" and get_action(action_key) is None:
        return refused(request, editor, EditRefused(f"There is no action {action_key!r}."))
    lane, index = request.POST.get("lane", "do"), _int(request.POST.get("index"))

    def add(doc: dict[str, Any]) -> str:
        name, task = document.new_task(doc, kind, lane, action_key)
        return document.insert_task(doc, lane, index, name, task)

    try:
        editor.draft, path = draft_update(draft=editor.editing_draft(), actor=request.user, edit=add)
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    focus = {"if_else": "first-condition", "loop": "for-in"}.get(kind, "first-field")
    return render_update(request, editor, panel={"task": path, "focus": focus})


@require_POST
@editor_required
def move(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """Drag and drop (``lane`` + ``index``), or the Move up / Move down buttons (``direction``)."""
    editor = load_editor(request, workflow_id, draft_id)
    path = request.POST.get("path", "")
    direction = request.POST.get("direction", "")

    def relocate(doc: dict[str, Any]) -> str:
        if direction in {"up", "down"}:
            _lane, index, _name, _task, where = document.find_task(doc, path)
            lane_path = where.rpartition("[")[0]
            target = index - 1 if direction == "up" else index + 1
            if target < 0 or target >= len(document.lane_at(doc, lane_path)):
                raise EditRefused(f"This card is already the {'first' if direction == 'up' else 'last'} in its lane.")
            return document.move_task(doc, where, lane_path, target)
        return document.move_task(doc, path, request.POST.get("lane", "do"), _int(request.POST.get("index")))

    try:
        editor.draft, new_path = draft_update(draft=editor.editing_draft(), actor=request.user, edit=relocate)
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    focus = f"open-{slug(new_path)}" if direction else ""
    panel = {"task": new_path} if request.POST.get("panel_path") == path else None
    return render_update(request, editor, panel=panel, focus_card=focus)


@require_POST
@editor_required
def duplicate(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    editor = load_editor(request, workflow_id, draft_id)
    path = request.POST.get("path", "")
    try:
        editor.draft, new_path = draft_update(
            draft=editor.editing_draft(), actor=request.user, edit=lambda doc: document.duplicate_task(doc, path)
        )
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    return render_update(request, editor, focus_card=f"open-{slug(new_path)}")


@require_POST
@editor_required
def delete(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    editor = load_editor(request, workflow_id, draft_id)
    path = request.POST.get("path", "")
    try:
        editor.draft, _name = draft_update(
            draft=editor.editing_draft(), actor=request.user, edit=lambda doc: document.delete_task(doc, path)
        )
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    lane_path = path.rpartition("[")[0]
    panel_path = request.POST.get("panel_path", "")
    closes = panel_path == path or panel_path.startswith((f"{path}.", f"{path}["))
    return render_update(request, editor, panel=CLOSE if closes else None, focus_card=f"add-{slug(lane_path)}-0")


@require_POST
@editor_required
def branch(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """Add a branch to an If / else (making it a switch), or remove one."""
    editor = load_editor(request, workflow_id, draft_id)
    path = request.POST.get("path", "")
    op = request.POST.get("op", "add")

    def change(doc: dict[str, Any]) -> str:
        if op == "remove":
            document.remove_branch(doc, path, _int(request.POST.get("index"), -1))
        else:
            document.add_branch(doc, path)
        return document.find_task(doc, path)[4]

    try:
        editor.draft, where = draft_update(draft=editor.editing_draft(), actor=request.user, edit=change)
    except EditRefused as refusal:
        return refused(request, editor, refusal)
    return render_update(request, editor, panel={"task": where})
