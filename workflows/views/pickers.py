"""Search-as-you-type for params that name a directory object (``x-keyflow-ref`` in the schema).

Each kind answers with a short list of matches; choosing one fills the field with the object's
natural key (a user's email, a group's name, a device's hostname), which reads well on the card
and is what the actions resolve.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Model, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from config.htmx import render_page
from directory.models import (
    Command,
    Connection,
    Device,
    DeviceGroup,
    NotificationChannel,
    Policy,
    User,
    UserGroup,
)
from workflows.views.base import editor_required

LIMIT = 8


@dataclass(frozen=True)
class PickerKind:
    """How to search one kind of object and what to fill in."""

    model: type[Model]
    search: tuple[str, ...]
    value: str
    detail: str = ""


PICKERS: dict[str, PickerKind] = {
    "user": PickerKind(User, ("username", "email", "first_name", "last_name"), "email", "username"),
    "group": PickerKind(UserGroup, ("name",), "name", "description"),
    "device": PickerKind(Device, ("hostname", "display_name", "serial_number"), "hostname", "display_name"),
    "device_group": PickerKind(DeviceGroup, ("name",), "name", "description"),
    "policy": PickerKind(Policy, ("name",), "name", "type"),
    "command": PickerKind(Command, ("name",), "name", "description"),
    "channel": PickerKind(NotificationChannel, ("name",), "name", "kind"),
    "connection": PickerKind(Connection, ("name", "base_url"), "name", "base_url"),
}


@require_GET
@editor_required
def pick(request: HttpRequest, kind: str) -> HttpResponse:
    """Up to ``LIMIT`` matches for the text in the field named by ``field``."""
    picker = PICKERS.get(kind)
    if picker is None:
        raise Http404(f"No picker for {kind!r}.")
    field = request.GET.get("field", "q")
    query = request.GET.get(field, "").strip()
    meta = picker.model._meta
    allowed = request.user.has_perm(f"{meta.app_label}.view_{meta.model_name}")
    matches = []
    if allowed and "{{" not in query:
        rows = picker.model.objects.all()
        if query:
            condition = Q()
            for name in picker.search:
                condition |= Q(**{f"{name}__icontains": query})
            rows = rows.filter(condition)
        matches = [
            {"value": getattr(obj, picker.value), "label": str(obj), "detail": getattr(obj, picker.detail, "")}
            for obj in rows.order_by(picker.search[0])[:LIMIT]
        ]
    context = {
        "matches": matches,
        "allowed": allowed,
        "query": query,
        "target": request.GET.get("target", ""),
        "noun": meta.verbose_name,
    }
    return render_page(request, "workflows/pick_results.html", context)
