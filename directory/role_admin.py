"""Admin roles in the Django admin: the one place where roles are seen and edited.

A role's page shows its permissions as a matrix (resources × verbs), its object scopes and the
workflows that run as it. Built-in roles open read-only, with "Copy to a custom role"; custom
roles are edited through ``role_services``, so every change is in the event log with its
actor. A change that would leave a workflow running as the role without a permission one of
its actions needs is not saved until the admin has seen which workflow would fail at which
action and confirmed.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from directory import role_services
from directory.models import AdminRole, UserGroup
from directory.role_dependents import RoleDependent, Shortfall, role_dependents
from directory.role_matrix import CELLS, VERBS, apply_cells, held_cells, matrix_rows, other_codes
from directory.scopes import SCOPE_OPTIONS, SCOPE_OPTIONS_BY_CODE, role_scopes


class PermissionMatrixWidget(forms.CheckboxSelectMultiple):
    """The matrix as a table of checkboxes, one per cell; not-applicable cells are blank."""

    template_name = "directory/admin/permission_matrix_widget.html"

    def __init__(self, *args: Any, held_codes: set[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.held_codes = held_codes or set()

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        checked = set(value or [])
        rows = matrix_rows(self.held_codes, prefix=f"{context['widget']['attrs'].get('id', 'id_' + name)}-")
        for row in rows:
            for cell in row["cells"]:
                if cell is not None:
                    cell["checked"] = cell["id"] in checked
        context["matrix"] = {
            "rows": rows,
            "verbs": _verb_headers(),
            "editable": True,
            "name": name,
            # What the admin saw ticked: saving applies only the cells they changed from it.
            "shown": " ".join(sorted(held_cells(self.held_codes))),
        }
        return context


def _verb_headers() -> list[str]:
    return [label for _, label in VERBS]


def render_matrix(codes: set[str]) -> SafeString:
    """The matrix read-only: a tick where the role holds the cell."""
    return render_to_string(
        "directory/admin/permission_matrix_widget.html",
        {"matrix": {"rows": matrix_rows(codes, prefix="ro-"), "verbs": _verb_headers(), "editable": False}},
    )


class AdminRoleAddForm(forms.ModelForm):
    """Name a new custom role and choose the built-in role it copies."""

    name = forms.CharField(max_length=150)
    based_on = forms.ModelChoiceField(
        queryset=AdminRole.objects.filter(is_builtin=True).select_related("group"),
        required=False,
        label="Copy permissions from",
        empty_label="Nothing: start with no permissions",
        help_text="The new role starts with this built-in role's permissions; you then change them.",
    )

    class Meta:
        model = AdminRole
        fields = ("name", "description", "based_on")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["based_on"].label_from_instance = lambda role: role.name  # type: ignore[attr-defined]

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        try:
            role_services.role_key_for(name)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["name"]) from exc
        return name


class AdminRoleViewForm(forms.ModelForm):
    """What a role's page holds for someone who may only look (every field is shown read-only)."""

    class Meta:
        model = AdminRole
        fields = ()


class AdminRoleChangeForm(forms.ModelForm):
    """A custom role: name, description, the permission matrix and object scopes.

    ``clean`` works out the permissions the role would have after the change and checks every
    workflow running as it; new shortfalls block the save until confirmed ("Save anyway" posts
    ``confirm_impact``).
    """

    actor: Any = None  # the signed-in admin, set by the ModelAdmin

    name = forms.CharField(max_length=150)
    permissions = forms.MultipleChoiceField(
        required=False,
        choices=[(cell_id, cell_id) for cell_id in CELLS],
        label="Permissions everywhere",
    )
    remove_scopes = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "kf-scope-list"}),
        label="Current scopes",
        help_text="Tick a scope to remove it.",
    )
    scope_permission = forms.ChoiceField(
        required=False,
        label="Add a scope: permission",
        choices=[("", "—")] + [(option.code, option.label) for option in SCOPE_OPTIONS],
        help_text="For users: applies to the members of the groups chosen below. "
        "For user groups: applies to those groups themselves.",
    )
    scope_groups = forms.ModelMultipleChoiceField(
        required=False,
        queryset=UserGroup.objects.all(),
        label="Add a scope: in user groups",
        widget=forms.CheckboxSelectMultiple(attrs={"class": "kf-scope-list kf-group-choices"}),
    )
    confirm_impact = forms.BooleanField(required=False, label="Save anyway")

    class Meta:
        model = AdminRole
        fields = ("name", "description")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        role = self.instance
        self.current_codes = role_services.role_codes(role)
        self.scopes = {scope.id: scope for scope in role_scopes(role)}
        self.impact: list[tuple[RoleDependent, list[Shortfall]]] = []
        self.fields["name"].initial = role.name
        held = held_cells(self.current_codes)
        self.fields["permissions"].initial = sorted(held)
        self.fields["permissions"].widget = PermissionMatrixWidget(held_codes=self.current_codes)
        self.fields["permissions"].widget.choices = self.fields["permissions"].choices
        self.fields["remove_scopes"].choices = [(scope.id, scope.label) for scope in self.scopes.values()]
        if not self.scopes:
            self.fields["remove_scopes"].help_text = "This role has no scopes yet."

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if Group.objects.filter(name__iexact=name).exclude(pk=self.instance.group_id).exists():
            raise ValidationError("A role with this name already exists.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        # Only the cells the admin changed are applied: a cell someone else ticked meanwhile stays.
        shown = self.data.get(f"{self.add_prefix('permissions')}-shown")
        before = set(shown.split()) & set(CELLS) if shown is not None else held_cells(self.current_codes)
        after = set(cleaned.get("permissions") or [])
        self.new_codes = apply_cells(self.current_codes, before=before, after=after)
        self.removed_scopes = [self.scopes[scope_id] for scope_id in cleaned.get("remove_scopes") or []]
        self.added_scope = self._clean_added_scope(cleaned)
        try:
            role_services.refuse_beyond_actor(self.new_codes - self.current_codes, self.actor, "permissions")
            if self.added_scope:
                role_services.refuse_beyond_actor({self.added_scope[0]}, self.actor, "scope_permission")
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field, errors)
        if not self.errors:
            self._check_impact(cleaned)
        return cleaned

    def _clean_added_scope(self, cleaned: dict[str, Any]) -> tuple[str, list[UserGroup]] | None:
        code, groups = cleaned.get("scope_permission"), list(cleaned.get("scope_groups") or [])
        if not code and not groups:
            return None
        if not code:
            self.add_error("scope_permission", "Choose the permission to give in these groups.")
            return None
        if not groups:
            self.add_error("scope_groups", "Choose at least one user group.")
            return None
        if code in self.new_codes:
            label = SCOPE_OPTIONS_BY_CODE[code].label
            self.add_error(
                "scope_permission",
                f"{label} is ticked in the matrix, which grants it everywhere; untick it there to limit it "
                "to these groups.",
            )
            return None
        return code, groups

    def proposed_permissions(self) -> set[str]:
        """Everything the role would hold after this change: model permissions and scopes."""
        removed = {scope.id for scope in self.removed_scopes}
        kept_scopes = {scope.code for scope in self.scopes.values() if scope.id not in removed}
        added = {self.added_scope[0]} if self.added_scope else set()
        return self.new_codes | kept_scopes | added

    def _check_impact(self, cleaned: dict[str, Any]) -> None:
        now = {d.name: set(d.shortfalls) for d in role_dependents(self.instance)}
        for dependent in role_dependents(self.instance, self.proposed_permissions()):
            new = [s for s in dependent.shortfalls if s not in now.get(dependent.name, set())]
            if new:
                self.impact.append((dependent, new))
        if self.impact and not cleaned.get("confirm_impact"):
            names = ", ".join(dependent.name for dependent, _ in self.impact)
            self.add_error(
                "confirm_impact",
                f"This change would make {names} fail at run time. Nothing has been saved.",
            )


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("builtin", "Built-in"), ("custom", "Custom")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() in ("builtin", "custom"):
            return queryset.filter(is_builtin=self.value() == "builtin")
        return queryset


@admin.register(AdminRole)
class AdminRoleAdmin(admin.ModelAdmin):
    """Built-in roles are read-only (copy one to customise it); custom roles are edited here."""

    change_form_template = "directory/admin/adminrole_change_form.html"
    list_display = ("name", "kind", "account_count", "workflow_count", "short_description")
    list_display_links = ("name",)
    list_filter = (KindFilter,)
    search_fields = ("group__name", "key", "description")
    list_select_related = ("group", "based_on__group")

    class Media:
        css = {"all": ("directory/admin_roles.css",)}

    # --- pages ---------------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # Accounts holding the role, not counting its run-as principal.
        return (
            super()
            .get_queryset(request)
            .select_related("group", "principal", "based_on__group")
            .annotate(
                _accounts=Count("group__user", distinct=True),
                _workflows=Count("workflows", distinct=True),
            )
        )

    def get_form(self, request: HttpRequest, obj: AdminRole | None = None, change: bool = False, **kwargs: Any) -> Any:
        if obj is None:
            kwargs["form"] = AdminRoleAddForm
            return super().get_form(request, obj, change=change, **kwargs)
        if not self.has_change_permission(request, obj):
            kwargs["form"] = AdminRoleViewForm
            return super().get_form(request, obj, change=change, **kwargs)
        kwargs["form"] = AdminRoleChangeForm
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_fieldsets(self, request: HttpRequest, obj: AdminRole | None = None) -> list[tuple[str | None, dict]]:
        if obj is None:
            return [(None, {"fields": ("name", "description", "based_on")})]
        about = (
            None,
            {
                "fields": (
                    "name",
                    "description",
                    "kind",
                    *(() if obj.is_builtin else ("copied_from",)),
                    "run_as_account",
                )
            },
        )
        workflows = (
            "Workflows running as this role",
            {
                "fields": ("workflows_running_as",),
                "description": "Changing what this role may do changes what these workflows may do.",
            },
        )
        if not self.has_change_permission(request, obj):
            return [
                about,
                ("Permissions", {"fields": ("permission_matrix", "other_permissions")}),
                ("Object scopes", {"fields": ("scope_list",)}),
                workflows,
            ]
        return [
            about,
            ("Permissions", {"fields": ("permissions", "other_permissions")}),
            (
                "Object scopes",
                {
                    "fields": ("remove_scopes", "scope_permission", "scope_groups"),
                    "description": "Permissions this role holds on some objects only — for example, "
                    "suspending the users of one group.",
                },
            ),
            workflows,
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: AdminRole | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        return ("kind", "copied_from", "run_as_account", "other_permissions", "workflows_running_as")

    def has_change_permission(self, request: HttpRequest, obj: AdminRole | None = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: AdminRole | None = None) -> bool:
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        initial = super().get_changeform_initial_data(request)
        base = AdminRole.objects.filter(pk=initial.get("based_on"), is_builtin=True).first()
        if base is not None:
            initial.setdefault("description", base.description)
        return initial

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: dict | None = None) -> HttpResponse:
        base = AdminRole.objects.filter(pk=request.GET.get("based_on") or None, is_builtin=True).first()
        extra_context = {**(extra_context or {}), "show_save_and_add_another": False}
        if base is not None:
            extra_context["title"] = f"Copy {base.name} to a custom role"
        return super().add_view(request, form_url, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        role = self.get_object(request, object_id)
        extra_context = {
            **(extra_context or {}),
            "can_copy": role is not None and role.is_builtin and self.has_add_permission(request),
            "show_save_and_add_another": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def response_add(self, request: HttpRequest, obj: AdminRole, post_url_continue: str | None = None) -> HttpResponse:
        """A new role is only named: go on to choose what it may do."""
        messages.success(request, f"Role {obj.name} created. Now choose its permissions and scopes.")
        return HttpResponseRedirect(reverse("admin:directory_adminrole_change", args=[obj.pk]))

    # --- saving through the services ----------------------------------------------------------

    def save_model(self, request: HttpRequest, obj: AdminRole, form: forms.ModelForm, change: bool) -> None:
        actor = request.user
        if not change:
            role = role_services.role_create(
                name=form.cleaned_data["name"],
                based_on=form.cleaned_data.get("based_on"),
                description=form.cleaned_data.get("description", ""),
                actor=actor,
            )
            obj.__dict__.update({k: v for k, v in role.__dict__.items() if k != "_state"})
            obj._state.adding, obj._state.db = False, role._state.db
            return
        role = AdminRole.objects.select_related("group", "principal").get(pk=obj.pk)
        role_services.role_update(
            role=role, actor=actor, name=form.cleaned_data["name"], description=form.cleaned_data["description"]
        )
        role_services.role_set_permissions(role=role, actor=actor, permissions=form.new_codes)
        for scope in form.removed_scopes:
            role_services.role_scope_remove(role=role, actor=actor, scope=scope)
        if form.added_scope:
            code, groups = form.added_scope
            for group in groups:
                role_services.role_scope_add(role=role, actor=actor, permission=code, user_group=group)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """Nothing to save: the services wrote the permissions and scopes."""

    def delete_model(self, request: HttpRequest, obj: AdminRole) -> None:
        role_services.role_delete(role=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for role in queryset:
            role_services.role_delete(role=role, actor=request.user)

    # --- read-only displays --------------------------------------------------------------------

    @admin.display(description="Name", ordering="group__name")
    def name(self, obj: AdminRole) -> str:
        return obj.name

    @admin.display(description="Kind", ordering="is_builtin")
    def kind(self, obj: AdminRole) -> str:
        return "Built-in" if obj.is_builtin else "Custom"

    @admin.display(description="Description")
    def short_description(self, obj: AdminRole) -> str:
        return Truncator(obj.description).chars(60)

    @admin.display(description="Copied from")
    def copied_from(self, obj: AdminRole) -> SafeString | str:
        if not obj.based_on_id:
            return "Nothing: it started with no permissions."
        url = reverse("admin:directory_adminrole_change", args=[obj.based_on_id])
        return format_html('<a href="{}">{}</a>', url, obj.based_on.name)

    @admin.display(description="Run-as account")
    def run_as_account(self, obj: AdminRole) -> str:
        name = obj.principal.get_username() if obj.principal_id else "—"
        return f"{name} — workflows running as this role act as this account, which cannot sign in."

    @admin.display(description="Admin accounts", ordering="_accounts")
    def account_count(self, obj: AdminRole) -> int:
        return max(obj._accounts - (1 if obj.principal_id else 0), 0)  # type: ignore[attr-defined]

    @admin.display(description="Workflows", ordering="_workflows")
    def workflow_count(self, obj: AdminRole) -> int:
        return obj._workflows  # type: ignore[attr-defined]

    @admin.display(description="Permissions everywhere")
    def permission_matrix(self, obj: AdminRole) -> SafeString:
        return render_matrix(role_services.role_codes(obj))

    @admin.display(description="Other permissions")
    def other_permissions(self, obj: AdminRole) -> str:
        others = other_codes(role_services.role_codes(obj))
        return ", ".join(others) if others else "None"

    @admin.display(description="Scopes")
    def scope_list(self, obj: AdminRole) -> SafeString | str:
        scopes = role_scopes(obj)
        if not scopes:
            return "None: where this role holds a permission, it holds it everywhere."
        return render_to_string("directory/admin/scope_list.html", {"scopes": scopes})

    @admin.display(description="Workflows")
    def workflows_running_as(self, obj: AdminRole) -> SafeString | str:
        dependents = role_dependents(obj)
        if not dependents:
            return "No workflow runs as this role."
        return render_to_string("directory/admin/role_dependents.html", {"dependents": dependents})
