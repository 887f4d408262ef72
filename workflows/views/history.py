"""The History tab of a saved workflow: its executions, as the history page lists them.

The list, its filters and keyset pages are the history page's own (``executions.views``), with
the workflow fixed; the header is the builder's. Who may open it: roles that see workflows
*and* execution history (Help Desk sees neither: a 403, as on ``/executions/``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

from config.htmx import render_page
from executions.selectors import HistoryFilters
from executions.views import history_list_context
from workflows.access import can_view_executions
from workflows.choices import WorkflowType
from workflows.views.base import load_editor, viewer_required

TEMPLATE = "workflows/history.html"


@require_GET
@viewer_required
def history(request: HttpRequest, workflow_id: int | None = None, draft_id: int | None = None) -> HttpResponse:
    """The workflow's executions, newest first; an HTMX request (filters, pages) gets the list only."""
    if not can_view_executions(request.user):
        raise PermissionDenied("Your admin role does not include the execution history.")
    if workflow_id is None:
        raise Http404("A workflow that was never saved has no history.")
    editor = load_editor(request, workflow_id=workflow_id)
    params = request.GET.copy()
    params["workflow"] = str(workflow_id)  # the tab's workflow, whatever the query says
    filters = HistoryFilters.from_query(params)
    list_url = reverse("workflows:history", kwargs={"workflow_id": workflow_id})
    context = history_list_context(request, filters, list_url=list_url)
    context.update(
        {
            "editor": editor,
            "editable": editor.editable,
            "urls": {"canvas": editor.url("canvas"), "json": editor.url("json")},
            "type_label": WorkflowType(editor.trigger_type).label if editor.trigger_type in WorkflowType.values else "",
            "view": "history",
            "may_see_history": True,
            "per_workflow": True,
            # page links stay on the tab, which fixes the workflow; the CSV export names it
            "query": urlencode({k: v for k, v in filters.query().items() if k != "workflow"}),
            "csv_query": context["query"],
        }
    )
    return render_page(request, TEMPLATE, context, partial="results")
