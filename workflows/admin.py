"""Workflows in the Django admin.

Model permissions decide who may do what here, as everywhere: only the Administrator roles
hold add/change/delete on workflows; Read Only and Manager see them read-only. Saves go
through the services, so the admin validates the definition and the run-as role exactly as
the builder and the API do, with each problem shown beside the definition field.

The builder (``/workflows/``) is where workflows are made and edited: the list and each change
page link to it, the list's "Add workflow" opens its create dialog, and the raw JSON definition
is kept as an advanced fallback (collapsed on change pages).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from directory.models import AdminRole
from workflows.access import can_manage_workflows
from workflows.models import Workflow, WorkflowVersion
from workflows.run_as import check_run_as
from workflows.schedules import next_run_times
from workflows.services import (
    WorkflowInvalid,
    run_as_beyond_actor,
    workflow_check,
    workflow_create,
    workflow_set_enabled,
    workflow_update,
)


class WorkflowAdminForm(forms.ModelForm):
    definition = forms.JSONField(help_text="The workflow document (DSL 1.0).")
    run_as = forms.ModelChoiceField(queryset=AdminRole.objects.select_related("group"))

    class Meta:
        model = Workflow
        fields = ("name", "description", "run_as", "enabled")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["definition"].initial = self.instance.definition

    # The signed-in admin, set by ``WorkflowAdmin.get_form``: the run-as role may hold no
    # permission they lack, on every save (not only when the role changes).
    actor: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for problem in run_as_beyond_actor(cleaned.get("run_as"), self.actor):
            self.add_error("run_as", problem.message)
        if "definition" in cleaned and cleaned.get("run_as") is not None:
            problems, report = workflow_check(definition=cleaned["definition"], run_as=cleaned["run_as"])
            for problem in problems:
                self.add_error("definition", f"{problem.path}: {problem.message}")
            if report is not None:
                self.run_as_report = report
        return cleaned


class WorkflowVersionInline(admin.TabularInline):
    model = WorkflowVersion
    extra = 0
    can_delete = False
    fields = ("number", "author", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowAdminForm
    list_display = ("name", "type", "enabled", "run_as", "trigger_event", "updated_at", "builder_link")
    list_filter = ("type", "enabled", "run_as")
    search_fields = ("name", "description")
    inlines = [WorkflowVersionInline]
    readonly_fields = ("builder_link", "next_runs")
    change_list_template = "admin/workflows/workflow/change_list.html"
    fieldsets = (
        (None, {"fields": ("builder_link", "name", "description", "run_as", "enabled")}),
        (
            "Definition (advanced: raw JSON)",
            {
                "classes": ("collapse",),
                "fields": ("definition",),
                "description": "Workflows are built and edited in the builder; this raw DSL document is a fallback.",
            },
        ),
        ("Schedule", {"fields": ("next_runs",)}),
    )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """A new workflow: name, role and the raw JSON, under a pointer to the builder's create dialog."""
        if obj is not None:
            return self.fieldsets
        pointer = format_html(
            'Workflows are easier to build in the <a href="{}">workflow builder</a>; this form takes the raw '
            "DSL document.",
            reverse("workflows:create"),
        )
        fields = ("name", "description", "run_as", "enabled", "definition")
        return ((None, {"fields": fields, "description": pointer}),)

    @admin.display(description="Builder")
    def builder_link(self, obj: Workflow) -> str:
        if obj is None or obj.pk is None:
            return "—"
        url = reverse("workflows:canvas", kwargs={"workflow_id": obj.pk})
        return format_html('<a class="button" href="{}">Open in the builder</a>', url)

    def get_view_on_site_url(self, obj: Workflow | None = None) -> str | None:
        return reverse("workflows:canvas", kwargs={"workflow_id": obj.pk}) if obj is not None else None

    @admin.display(description="Next runs (UTC)")
    def next_runs(self, obj: Workflow) -> str:
        if obj.pk is None or obj.type != "schedule":
            return "—"
        times = next_run_times(obj, 5)
        return ", ".join(t.strftime("%Y-%m-%d %H:%M") for t in times) if times else "paused (disabled)"

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return can_manage_workflows(request.user, "workflows.add_workflow")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage_workflows(request.user, "workflows.change_workflow")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return can_manage_workflows(request.user, "workflows.delete_workflow")

    def save_model(self, request: HttpRequest, obj: Workflow, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        try:
            if change:
                saved = workflow_update(
                    workflow=obj,
                    actor=request.user,
                    name=data["name"],
                    description=data["description"],
                    definition=data["definition"],
                    run_as=data["run_as"],
                )
                saved = workflow_set_enabled(workflow=saved, enabled=data["enabled"], actor=request.user)
            else:
                saved = workflow_create(
                    name=data["name"],
                    description=data["description"],
                    definition=data["definition"],
                    run_as=data["run_as"],
                    enabled=data["enabled"],
                    actor=request.user,
                )
        except WorkflowInvalid as exc:  # raced with another save; the form validated the same rules
            raise ValueError(str(exc)) from exc
        obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
        obj._state.adding = False
        report = check_run_as(saved.definition, saved.run_as)
        if report.narrowest_role is not None:
            messages.info(request, f"Narrowest built-in role that covers this workflow: {report.narrowest_role.name}.")
        for warning in report.warnings:
            messages.warning(request, warning)

    def get_queryset(self, request: HttpRequest) -> Any:
        """Deleted (archived) workflows are gone from the admin; their history is at /executions/."""
        return super().get_queryset(request).filter(archived_at__isnull=True)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        """Deleting archives (``workflow_delete``): nothing else is removed, so nothing is listed or
        protected — the executions that PROTECT the workflow stay, readable in the history."""
        names = [f"Workflow: {obj} (archived; its executions and steps are kept)" for obj in objs]
        return names, {"workflows": len(names)}, set(), []

    def delete_model(self, request: HttpRequest, obj: Workflow) -> None:
        from workflows.services import workflow_delete

        workflow_delete(workflow=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for workflow in queryset:
            self.delete_model(request, workflow)
