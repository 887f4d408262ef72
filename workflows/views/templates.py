"""The templates gallery and "Use template": a form asking only for the template's inputs, then the
new workflow opens on the canvas as an unsaved draft running as the suggested role.

Nothing exists until the admin saves the draft (a new draft cannot run), so they review what the
template will do first; the form's errors sit beside each input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from config.htmx import render_page
from directory.models import UserGroup
from workflows.templates_library import CATEGORIES, Template, TemplateInputsInvalid, all_templates, get_template
from workflows.templates_library.library import TemplateInput
from workflows.templates_library.services import template_draft_create
from workflows.views.base import editor_required, viewer_required

GALLERY = "workflows/templates/gallery.html"
USE = "workflows/templates/use.html"
TRIGGER_LABELS = {"manual": "Manual", "event": "Event", "schedule": "Schedule"}
# A list of checkboxes is fine for a directory's user groups up to this many; past it, type names.
MAX_GROUP_CHOICES = 200


def _matches(template: Template, query: str) -> bool:
    text = " ".join([template.name, template.description, template.category_label, template.trigger_summary])
    return all(word in text.lower() for word in query.lower().split())


@require_GET
@viewer_required
def gallery(request: HttpRequest) -> HttpResponse:
    """Every template as a card; search and a category filter narrow the list in place."""
    query = request.GET.get("q", "").strip()
    category = request.GET.get("category", "")
    if category not in CATEGORIES:
        category = ""
    shown = [
        t for t in all_templates() if (not category or t.category == category) and (not query or _matches(t, query))
    ]
    context = {
        "templates": shown,
        "total": len(all_templates()),
        "query": query,
        "category": category,
        "categories": list(CATEGORIES.items()),
        "trigger_labels": TRIGGER_LABELS,
        "editable": request.builder_mode == "edit",
    }
    return render_page(request, GALLERY, context, partial="results")


@dataclass
class InputField:
    """One input of the form: what the template says about it, what was entered, its error."""

    item: TemplateInput
    value: Any
    error: str
    choices: list[tuple[str, str]]

    @property
    def field_id(self) -> str:
        return f"input-{self.item.name}"

    @property
    def text(self) -> str:
        return self.item.kind.to_text(self.value)

    @property
    def selected(self) -> list[str]:
        return [str(v) for v in self.value] if isinstance(self.value, list) else []


def _entered(request: HttpRequest, template: Template) -> dict[str, Any]:
    entered: dict[str, Any] = {}
    for item in template.inputs:
        if item.kind.widget == "picker_many":
            values = [v for v in request.POST.getlist(item.name) if v.strip()]
            if values:
                entered[item.name] = values
        elif request.POST.get(item.name, "").strip():
            entered[item.name] = request.POST[item.name]
    return entered


def _fields(template: Template, entered: dict[str, Any], errors: dict[str, list[str]]) -> list[InputField]:
    group_names: list[tuple[str, str]] | None = None
    fields = []
    for item in template.inputs:
        choices = item.kind.choices()
        if item.kind.widget == "picker_many":
            if group_names is None:
                names = UserGroup.objects.order_by("name").values_list("name", flat=True)[:MAX_GROUP_CHOICES]
                group_names = [(name, name) for name in names]
            choices = group_names
        value = entered.get(item.name, item.default)
        fields.append(InputField(item, value, " ".join(errors.get(item.name, [])), choices))
    return fields


@require_http_methods(["GET", "POST"])
@editor_required
def use(request: HttpRequest, key: str) -> HttpResponse:
    """The template's inputs; a valid POST creates the draft and opens it on the canvas."""
    template = get_template(key)
    if template is None:
        raise Http404("No such template.")
    entered: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    name = ""
    if request.method == "POST":
        entered = _entered(request, template)
        name = request.POST.get("name", "").strip()
        try:
            draft = template_draft_create(template=template, inputs=entered, name=name or None, actor=request.user)
        except TemplateInputsInvalid as exc:
            errors = exc.errors
        else:
            url = reverse("workflows:canvas", kwargs={"draft_id": draft.pk})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {
        "template": template,
        "fields": _fields(template, entered, errors),
        "name": name,
        "name_error": " ".join(errors.get("name", [])),
        "error_count": len(errors),
        "trigger_labels": TRIGGER_LABELS,
    }
    return render_page(request, USE, context, partial="form")
