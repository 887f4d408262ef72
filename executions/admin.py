"""Execution history in the Django admin (read-only)."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from directory.redaction import redact
from executions.models import Execution, StepRun
from executions.services import execution_cancel
from workflows.access import can_cancel_executions


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    fields = ("sequence", "path", "status", "skip_reason", "attempts", "error", "started_at", "finished_at")
    show_change_link = False
    readonly_fields = fields
    ordering = ("sequence",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _as_json(value: Any) -> str:
    """A JSON value for a read-only admin page, secrets redacted (``directory.redaction``)."""
    return format_html("<pre>{}</pre>", json.dumps(redact(value), indent=2, ensure_ascii=False, default=str))


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):
    """Read-only history. The run's input is shown redacted, as the API shows it: Read Only and
    Manager admins may open this page."""

    list_display = ("id", "workflow", "trigger_kind", "status", "queued_at", "started_at", "finished_at")
    change_list_template = "admin/executions/execution/change_list.html"
    list_filter = ("status", "trigger_kind", "workflow")
    date_hierarchy = "queued_at"
    inlines = [StepRunInline]
    fields = readonly_fields = [f.name if f.name != "input" else "redacted_input" for f in Execution._meta.fields]
    actions = ("cancel",)

    def get_view_on_site_url(self, obj: Execution | None = None) -> str | None:
        """ "View on site" opens the history page, which draws the run and its steps."""
        return reverse("executions:detail", args=[obj.pk]) if obj is not None else None

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The list says how long history is kept (``KEYFLOW_HISTORY_DAYS``)."""
        context = {"history_days": settings.KEYFLOW_HISTORY_DAYS, **(extra_context or {})}
        return super().changelist_view(request, extra_context=context)

    @admin.display(description="input")
    def redacted_input(self, obj: Execution) -> str:
        return _as_json(obj.input)

    @admin.action(description="Cancel selected executions", permissions=["cancel"])
    def cancel(self, request: HttpRequest, queryset: QuerySet) -> None:
        for execution in queryset:
            execution_cancel(execution=execution, actor=request.user)
        messages.info(request, f"Asked {queryset.count()} execution(s) to cancel.")

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return can_cancel_executions(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
