"""The create dialog: type → Next → name and description → Done opens the canvas with its trigger card."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from config.htmx import render_page
from workflows.builder.document import EditRefused
from workflows.builder.drafts import draft_create
from workflows.choices import WorkflowType
from workflows.models import Workflow
from workflows.views.base import editor_required

TEMPLATE = "workflows/create_dialog.html"

TYPE_DESCRIPTIONS = {
    WorkflowType.MANUAL: "Runs when an admin starts it, with input given each time — offboarding someone, "
    "granting temporary access.",
    WorkflowType.EVENT: "Runs when something happens in the directory — a user is created, joins a group, "
    "a device is enrolled.",
    WorkflowType.SCHEDULE: "Runs at set times — every weekday at 09:00 — or once at a time you choose.",
}


def _types() -> list[tuple[str, str, str]]:
    return [(value, label, TYPE_DESCRIPTIONS[value]) for value, label in WorkflowType.choices]


def _name_problem(name: str) -> str:
    name = name.strip()
    if not name:
        return "Give the workflow a name."
    if Workflow.objects.live().filter(name__iexact=name).exists():
        return "A workflow with this name already exists."
    return ""


@require_http_methods(["GET", "POST"])
@editor_required
def create(request: HttpRequest) -> HttpResponse:
    """Step 1 on GET; POST moves between the steps (``step``) and ``done`` creates the draft."""
    data = request.POST if request.method == "POST" else request.GET
    context = {
        "types": _types(),
        "type": data.get("type", WorkflowType.MANUAL),
        "name": data.get("name", ""),
        "description": data.get("description", ""),
        "step": 1,
        "errors": {},
    }
    action = request.POST.get("action", "")
    if action == "next":
        if context["type"] in WorkflowType.values:
            context["step"] = 2
        else:
            context["errors"]["type"] = "Choose what starts the workflow."
    elif action == "done":
        context["step"] = 2
        try:
            draft = draft_create(
                trigger_type=context["type"],
                name=context["name"],
                description=context["description"],
                actor=request.user,
            )
        except EditRefused as refused:
            context["errors"][refused.field or "name"] = refused.message
        else:
            url = reverse("workflows:canvas", kwargs={"draft_id": draft.pk})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return render_page(request, TEMPLATE, context, partial="dialog" if request.method == "GET" else "step")


@require_GET
@editor_required
def name_check(request: HttpRequest) -> HttpResponse:
    """Checked as the admin types: is the name free?"""
    name = request.GET.get("name", "")
    return render_page(request, TEMPLATE, {"name_problem": _name_problem(name), "name": name}, partial="name_check")
