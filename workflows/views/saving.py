"""The workflow's name and description, Save (through the same services as the API) and Discard."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from workflows.builder.drafts import DraftConflict, draft_discard, draft_save, draft_update
from workflows.services import WorkflowInvalid
from workflows.views.base import editor_required, load_editor
from workflows.views.rendering import render_update


def _panel_from(request: HttpRequest) -> dict[str, Any] | None:
    """The panel open when Save was pressed, redrawn so its fields show their messages."""
    path = request.POST.get("panel_path", "")
    if path == "trigger":
        return {"trigger": True}
    return {"task": path} if path else None


@require_POST
@editor_required
def details(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """Rename the workflow (edited in place in the top bar) or change its description."""
    editor = load_editor(request, workflow_id, draft_id)
    fields = {key: request.POST[key].strip() for key in ("name", "description") if key in request.POST}
    editor.draft, _ = draft_update(draft=editor.editing_draft(), actor=request.user, **fields)
    return render_update(request, editor)


@require_POST
@editor_required
def save(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """Validate the whole draft and save it as a new version, or show every problem on its card."""
    editor = load_editor(request, workflow_id, draft_id)
    if editor.draft is None:
        return render_update(request, editor)
    try:
        workflow = draft_save(draft=editor.draft, actor=request.user)
    except DraftConflict:
        # The save bar shows the conflict (``draft_conflict``) with what to do about it.
        return render_update(request, editor, panel=_panel_from(request))
    except WorkflowInvalid:
        editor = load_editor(request, workflow_id, draft_id)  # the draft now shows its problems
        return render_update(request, editor, panel=_panel_from(request))
    version = workflow.current_version.number if workflow.current_version else 1
    messages.success(request, f"Saved {workflow.name} as version {version}.")
    return HttpResponseClientRedirect(reverse("workflows:canvas", kwargs={"workflow_id": workflow.pk}))


@require_POST
@editor_required
def discard(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """Throw the draft away: back to the saved version (or, for a new workflow, to the overview)."""
    editor = load_editor(request, workflow_id, draft_id)
    if editor.draft is not None:
        draft_discard(draft=editor.draft, actor=request.user)
    if editor.workflow is None:
        messages.info(request, f"Discarded the new workflow {editor.name}.")
        return HttpResponseClientRedirect(reverse("workflows:overview"))
    messages.info(request, "Discarded your changes.")
    return HttpResponseClientRedirect(reverse("workflows:canvas", kwargs={"workflow_id": editor.workflow.pk}))
