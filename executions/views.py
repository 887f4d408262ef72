"""The history pages under ``/executions/``: the list, one execution live, its steps, cancel, re-run,
exports, and the purge of a deleted workflow's history.

Who may do what is ``workflows.access`` — the same answer as the admin and the API: viewing needs
``executions.view_execution`` (steps also ``executions.view_steprun``), cancelling and re-running an
Administrator role, purging an Administrator role with ``workflows.delete_workflow``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from config.htmx import render_page
from directory.redaction import redact_changes
from executions.choices import ExecutionStatus, TriggerKind
from executions.exports import CSV_HEADER, csv_row, execution_document
from executions.models import Execution
from executions.recording import redact
from executions.run_canvas import build_run_canvas, card_dom_id, json_html, status_icon, step_view
from executions.selectors import (
    HistoryFilters,
    caused_events,
    execution_for_page,
    history_page,
    history_rows,
    steps_of,
    trigger_text,
    workflows_for_filter,
)
from executions.services import RERUN_LATEST, RERUN_SAME, RerunRefused, execution_cancel, execution_rerun
from workflows.access import can_cancel_executions, can_manage_workflows, can_run_workflows, can_view_executions
from workflows.models import Workflow
from workflows.services import PurgeRefused, workflow_purge

View = Callable[..., HttpResponse]
POLL_SECONDS = 2


def history_viewer(view: View) -> View:
    """Anonymous visitors sign in; roles without ``executions.view_execution`` get a 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not can_view_executions(request.user):
            raise PermissionDenied("Your admin role does not include the execution history.")
        return view(request, *args, **kwargs)

    return wrapper


def _may_see_steps(user: Any) -> bool:
    return user.has_perm("executions.view_steprun")


def _row(execution: Execution) -> dict[str, Any]:
    """What a history row shows, formatted here: a page of 50 rows stays cheap to render."""
    queued = timezone.localtime(execution.queued_at)
    duration = execution.duration_seconds
    return {
        "pk": execution.pk,
        "url": f"{reverse('executions:history')}{execution.pk}/",
        "status": execution.status,
        "status_label": execution.get_status_display(),
        "icon": status_icon(execution.status),
        "workflow": execution.workflow.name,
        "archived": execution.workflow.archived_at is not None,
        "version": execution.version.number,
        "trigger": trigger_text(execution),
        "queued_iso": queued.isoformat(),
        "queued": f"{queued.day} {queued:%b, %H:%M:%S}",
        "duration": f"{duration:.2f} s" if duration is not None else "",
        "steps": f"{execution.steps_done}/{execution.steps_total}",
    }


def history_list_context(request: HttpRequest, filters: HistoryFilters, *, list_url: str) -> dict[str, Any]:
    """What the history list and its filters show: one keyset page of ``filters``, served at
    ``list_url`` (every execution here; one workflow's on its History tab in the builder)."""
    page = history_page(filters, after=request.GET.get("after", ""), before=request.GET.get("before", ""))
    return {
        "filters": filters,
        "page": page,
        "rows": [_row(execution) for execution in page.rows],
        "statuses": ExecutionStatus.choices,
        "triggers": TriggerKind.choices,
        "query": urlencode(filters.query()),
        "list_url": list_url,
        "history_days": settings.KEYFLOW_HISTORY_DAYS,
    }


@require_GET
@history_viewer
def history(request: HttpRequest) -> HttpResponse:
    filters = HistoryFilters.from_query(request.GET)
    context = history_list_context(request, filters, list_url=reverse("executions:history"))
    workflows = workflows_for_filter()
    chosen = next((w for w in workflows if w.pk == filters.workflow), None)
    context.update(
        {
            "workflows": workflows,
            "chosen_workflow": chosen,
            "may_purge": chosen is not None
            and chosen.archived_at is not None
            and can_manage_workflows(request.user, "workflows.delete_workflow"),
        }
    )
    return render_page(request, "executions/history.html", context, partial="results")


@require_GET
@history_viewer
def history_csv(request: HttpRequest) -> HttpResponse:
    """The filtered history as CSV, streamed a keyset batch at a time (any size, bounded memory)."""
    filters = HistoryFilters.from_query(request.GET)
    if filters.errors:
        return JsonResponse({"errors": filters.errors}, status=400)

    def lines() -> Iterator[str]:
        buffer = _Echo()
        writer = csv.writer(buffer)
        yield writer.writerow(CSV_HEADER)
        for execution in history_rows(filters):
            yield writer.writerow(csv_row(execution))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="keyflow-executions.csv"'
    return response


class _Echo:
    """A file-like object whose ``write`` returns the line, for streaming ``csv.writer`` output."""

    def write(self, value: str) -> str:
        return value


def _execution_or_404(pk: int) -> Execution:
    execution = execution_for_page(pk)
    if execution is None:
        raise Http404("No such execution: it was pruned or purged, or never existed.")
    return execution


def _page_context(request: HttpRequest, execution: Execution) -> dict[str, Any]:
    see_steps = _may_see_steps(request.user)
    steps = steps_of(execution) if see_steps else []
    canvas = build_run_canvas(execution, steps) if see_steps else None
    live = execution.status not in ExecutionStatus.finished()
    workflow = execution.workflow
    current = workflow.current_version
    return {
        "execution": execution,
        "workflow": workflow,
        "trigger": trigger_text(execution),
        "icon": status_icon(execution.status),
        "see_steps": see_steps,
        "canvas": canvas,
        "steps": steps,
        "step_url": reverse("executions:step", args=[execution.pk]),
        "input_view": step_view_input(execution),
        "event": execution.event,
        "caused": caused_events(execution),
        "live": live,
        "poll_seconds": POLL_SECONDS,
        "may_cancel": live and can_cancel_executions(request.user),
        "may_rerun": not live and workflow.archived_at is None and can_run_workflows(request.user),
        "latest_version": current,
        "latest_differs": current is not None and current.pk != execution.version_id,
        "rerun_same": RERUN_SAME,
        "rerun_latest": RERUN_LATEST,
        "reruns": list(execution.reruns.order_by("-queued_at").values_list("pk", flat=True)[:10]),
    }


def step_view_input(execution: Execution) -> Any:
    """The run's input, redacted and pretty-printed, for the trigger card."""
    return json_html(redact(execution.input or {}))


@require_GET
@history_viewer
def execution_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The execution, drawn as its workflow; polled (``#live``) while it is unfinished."""
    execution = _execution_or_404(pk)
    return render_page(request, "executions/execution.html", _page_context(request, execution), partial="live")


@require_GET
@history_viewer
def step_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The records of one task of the execution (every iteration of a task in a loop)."""
    if not _may_see_steps(request.user):
        raise PermissionDenied("Your admin role does not include step records.")
    execution = _execution_or_404(pk)
    path = request.GET.get("path", "")
    if path == "trigger":
        context = {"execution": execution, "trigger": trigger_text(execution), "kind": "trigger"}
        context["input_view"] = step_view_input(execution)
        context["event"] = execution.event
        context["event_changes"] = redact_changes(execution.event.changes) if execution.event else []
        context["card_id"] = card_dom_id("trigger")
        return render_page(request, "executions/_step_panel.html", context, partial="panel")
    every = steps_of(execution)
    steps = [step for step in every if step.path == path]
    if not steps:
        context = {"execution": execution, "path": path, "kind": "not_run", "card_id": card_dom_id(path)}
        return render_page(request, "executions/_step_panel.html", context, partial="panel")
    views = []
    for step in steps:
        view = step_view(step)
        if step.task_type == "for" and isinstance(step.output, dict):
            view.iterations = _iterations(step, every)
        views.append(view)
    context = {
        "execution": execution,
        "path": path,
        "kind": "steps",
        "views": views,
        "name": steps[0].name,
        "card_id": card_dom_id(path),
    }
    return render_page(request, "executions/_step_panel.html", context, partial="panel")


def _iterations(loop: Any, every: list[Any]) -> list[dict[str, Any]]:
    """A loop record's iterations: each item and the steps its body ran (nested ones too), in order."""
    items = loop.output.get("items") or []
    iterations = []
    for index, item in enumerate(items):
        prefix = f"{loop.key}[{index}].do"
        iterations.append(
            {"index": index, "item": json_html(item), "steps": [s for s in every if s.key.startswith(prefix)]}
        )
    return iterations


@require_POST
@history_viewer
def cancel(request: HttpRequest, pk: int) -> HttpResponse:
    if not can_cancel_executions(request.user):
        raise PermissionDenied("Only Administrator roles may cancel executions.")
    execution = get_object_or_404(Execution, pk=pk)
    if execution.status in ExecutionStatus.finished():
        return HttpResponse(f"Execution {execution.pk} has already finished ({execution.status}).", status=409)
    execution = execution_cancel(execution=execution, actor=request.user)
    done = "cancelled" if execution.status == ExecutionStatus.CANCELLED else "asked to stop before its next step"
    messages.info(request, f"Execution {execution.pk} {done}.")
    return HttpResponseClientRedirect(reverse("executions:detail", args=[execution.pk]))


@require_POST
@history_viewer
def rerun(request: HttpRequest, pk: int) -> HttpResponse:
    if not can_run_workflows(request.user):
        raise PermissionDenied("Only Administrator roles may run workflows.")
    execution = get_object_or_404(Execution.objects.select_related("workflow__current_version", "version"), pk=pk)
    version = request.POST.get("version", RERUN_SAME)
    try:
        new = execution_rerun(execution=execution, actor=request.user, version=version)
    except RerunRefused as exc:
        return HttpResponse(str(exc), status=409)
    messages.success(request, f"Execution {new.pk} re-runs execution {execution.pk}.")
    return HttpResponseClientRedirect(reverse("executions:detail", args=[new.pk]))


@require_GET
@history_viewer
def export_json(request: HttpRequest, pk: int) -> HttpResponse:
    execution = _execution_or_404(pk)
    steps = steps_of(execution) if _may_see_steps(request.user) else None
    document = execution_document(execution, steps, caused_events(execution))
    response = HttpResponse(
        json.dumps(document, indent=2, ensure_ascii=False, default=str), content_type="application/json"
    )
    response["Content-Disposition"] = f'attachment; filename="keyflow-execution-{execution.pk}.json"'
    return response


@require_POST
@history_viewer
def purge(request: HttpRequest, workflow_id: int) -> HttpResponse:
    """Remove a deleted workflow's history for good (Administrator roles; behind a confirmation)."""
    if not can_manage_workflows(request.user, "workflows.delete_workflow"):
        raise PermissionDenied("Only Administrator roles may purge history.")
    workflow = get_object_or_404(Workflow, pk=workflow_id)
    try:
        count = workflow_purge(workflow=workflow, actor=request.user)
    except PurgeRefused as exc:
        return HttpResponse(str(exc), status=409)
    messages.success(request, f"Purged {workflow.name}: {count} execution{'s' if count != 1 else ''} removed.")
    return HttpResponseClientRedirect(reverse("executions:history"))
