"""The workflows overview, the front door (``/``), and the enable toggle that works in place."""

from __future__ import annotations

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_GET, require_POST

from config.htmx import render_page
from executions.choices import ExecutionStatus
from workflows.access import builder_mode
from workflows.builder.drafts import draft_update
from workflows.builder.overview import NEVER, OverviewFilters, overview_page, unsaved_new_drafts
from workflows.builder.summaries import trigger_summary
from workflows.choices import WorkflowType
from workflows.models import Workflow
from workflows.services import workflow_set_enabled
from workflows.views.base import editor_required, load_editor, viewer_required

TEMPLATE = "workflows/overview.html"


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """``/``: the workflows for whoever may see them, the login page for anonymous visitors."""
    if not request.user.is_authenticated:
        return redirect_to_login("/workflows/")
    if builder_mode(request.user) is None:
        raise PermissionDenied("Your admin role does not include workflows. The admin has what your role allows.")
    return redirect("workflows:overview")


@require_GET
@viewer_required
def overview(request: HttpRequest) -> HttpResponse:
    filters = OverviewFilters.from_query(request.GET)
    page, rows = overview_page(filters=filters, page=request.GET.get("page"), owner=request.user)
    context = {
        "page": page,
        "rows": rows,
        "filters": filters,
        "editable": request.builder_mode == "edit",
        "new_drafts": unsaved_new_drafts(request.user) if request.builder_mode == "edit" else [],
        "types": WorkflowType.choices,
        "statuses": [*ExecutionStatus.choices, (NEVER, "Never run")],
        "total": page.paginator.count,
        "any_workflows": page.paginator.count > 0 or filters.active,
    }
    return render_page(request, TEMPLATE, context, partial="results")


@require_POST
@editor_required
def set_enabled(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """Enable or disable a saved workflow at once (it is not part of the draft)."""
    workflow = get_object_or_404(
        Workflow.objects.live().select_related("run_as__group", "current_version"), pk=workflow_id
    )
    workflow = workflow_set_enabled(workflow=workflow, enabled=request.POST.get("enabled") == "on", actor=request.user)
    context = {"workflow": workflow, "editable": True, "trigger": trigger_summary(workflow.definition.get("trigger"))}
    return render_page(request, "workflows/_enabled_toggle.html", context)


@require_POST
@editor_required
def set_draft_enabled(request: HttpRequest, draft_id: int) -> HttpResponse:
    """A new workflow's "enabled on first save" switch, kept in its draft."""
    editor = load_editor(request, draft_id=draft_id)
    draft, _ = draft_update(draft=editor.draft, actor=request.user, enabled=request.POST.get("enabled") == "on")
    editor.draft = draft
    return render_page(request, "workflows/_enabled_toggle.html", {"draft": draft, "editable": True})
