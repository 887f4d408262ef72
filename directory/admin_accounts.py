"""Admin accounts in the Django admin: the people who sign in, each holding one admin role.

Listed as **Admin accounts**, apart from the directory's Users (the people Keyflow manages).
Django's stock user admin lets an account join any number of groups; Keyflow's model is one
role per admin (as in JumpCloud), so the groups widget is replaced by a single role choice,
with the chosen role's summary beside it. Run-as principals are service accounts, not people,
and are not listed. Every change goes through ``account_services`` and so reaches the event
log with its actor.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.urls import reverse

from directory import account_services
from directory.actors import current_actor
from directory.models import AdminAccount, AdminRole
from directory.role_matrix import summarize
from directory.role_services import PRINCIPAL_PREFIX, admin_set_role, refuse_beyond_actor, role_grants
from directory.scopes import scopes_for_roles

User = get_user_model()


def role_summaries(roles: list[AdminRole]) -> list[dict[str, Any]]:
    """What each role may do, in a few lines (three queries for all roles)."""
    scopes = scopes_for_roles(roles)
    return [
        {
            "pk": str(role.pk),
            "name": role.name,
            "description": role.description,
            "builtin": role.is_builtin,
            "url": reverse("admin:directory_adminrole_change", args=[role.pk]),
            "rows": summarize(f"{p.content_type.app_label}.{p.codename}" for p in role.group.permissions.all()),
            "scopes": [scope.label for scope in scopes.get(role.pk, [])],
        }
        for role in roles
    ]


class RoleSelect(forms.Select):
    """The role picker, with the chosen role's summary beside it (kept in step as the choice changes)."""

    template_name = "directory/admin/role_select.html"

    class Media:
        js = ("directory/role_summary.js",)
        css = {"all": ("directory/admin_roles.css",)}

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        widget_id = context["widget"]["attrs"].get("id", f"id_{name}")
        context["summary_id"] = f"{widget_id}_summary"
        context["widget"]["attrs"]["aria-describedby"] = context["summary_id"]
        context["widget"]["attrs"]["data-role-summary"] = context["summary_id"]
        values = context["widget"]["value"]
        context["selected"] = str(values[0]) if values and values[0] not in (None, "") else ""
        roles = list(AdminRole.objects.select_related("group").prefetch_related("group__permissions__content_type"))
        context["summaries"] = role_summaries(roles)
        return context


class _RoleField(forms.ModelChoiceField):
    def label_from_instance(self, obj: AdminRole) -> str:
        return obj.name


def _role_field() -> _RoleField:
    return _RoleField(
        queryset=AdminRole.objects.select_related("group"),
        required=False,
        label="Role",
        empty_label="No role",
        widget=RoleSelect,
        help_text="The one admin role this account holds; what it may do is summarised beside the choice.",
    )


class _AccountRules:
    """The service's rules, shown beside the fields instead of failing the save."""

    actor: Any = None  # the signed-in admin, set by the ModelAdmin

    def clean_username(self) -> str:
        username = self.cleaned_data.get("username")  # type: ignore[attr-defined]
        if not username:
            return username
        if username.lower().startswith(PRINCIPAL_PREFIX):
            raise ValidationError(f"Names starting with {PRINCIPAL_PREFIX} are kept for run-as accounts.")
        taken = User.objects.filter(username__iexact=username).exclude(pk=self.instance.pk)  # type: ignore[attr-defined]
        if taken.exists():
            raise ValidationError("An account with this username already exists.")
        return username

    def clean_role(self) -> AdminRole | None:
        role = self.cleaned_data.get("role")  # type: ignore[attr-defined]
        if role is not None:
            try:
                refuse_beyond_actor(role_grants(role), self.actor, "role")
            except ValidationError as exc:
                raise ValidationError(exc.message_dict["role"]) from exc
        return role


class AdminAccountChangeForm(_AccountRules, UserChangeForm):
    role = _role_field()

    class Meta(UserChangeForm.Meta):
        model = AdminAccount

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and "role" in self.fields:
            self.fields["role"].initial = AdminRole.objects.filter(group__user=self.instance).first()


class AdminAccountCreationForm(_AccountRules, UserCreationForm):
    role = _role_field()

    class Meta(UserCreationForm.Meta):
        model = AdminAccount
        fields = ("username", "email", "first_name", "last_name")


class AdminAccountPasswordForm(AdminPasswordChangeForm):
    """Setting a password (or turning password sign-in off) goes through the service, so it is logged."""

    def save(self, commit: bool = True) -> Any:
        password = self.cleaned_data["password1"] if self.cleaned_data["set_usable_password"] else None
        return account_services.admin_account_set_password(account=self.user, password=password, actor=current_actor())


class RoleFilter(admin.SimpleListFilter):
    title = "role"
    parameter_name = "role"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("none", "No role")] + [(str(role.pk), role.name) for role in AdminRole.objects.select_related("group")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "none":
            return queryset.filter(groups__isnull=True)
        if value:
            return queryset.filter(groups__admin_role__pk=value)
        return queryset


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(AdminAccount)
class AdminAccountAdmin(DjangoUserAdmin):
    """Who may manage accounts is ``auth.*_user`` (Administrator with Billing), as in the role table."""

    form = AdminAccountChangeForm
    add_form = AdminAccountCreationForm
    change_password_form = AdminAccountPasswordForm
    list_display = ("username", "full_name", "role_name", "is_active", "superuser")
    list_filter = ("is_active", "is_superuser", RoleFilter)
    search_fields = ("username", "first_name", "last_name", "email")
    readonly_fields = ("last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("role", "is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"fields": ("username", "email", "first_name", "last_name")}),
        ("Access", {"fields": ("role",)}),
        ("Password", {"fields": ("password1", "password2")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        role_name = AdminRole.objects.filter(group__user=OuterRef("pk")).values("group__name")[:1]
        return super().get_queryset(request).filter(principal_of__isnull=True).annotate(_role=Subquery(role_name))

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        # A superuser holds every permission: only a superuser may make (or unmake) one.
        return readonly if request.user.is_superuser else (*readonly, "is_superuser")

    # ``auth.*_user`` decides, as the built-in role table grants it.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("auth.view_user") or request.user.has_perm("auth.change_user")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("auth.add_user")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("auth.change_user") and self._may_touch(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("auth.delete_user") and self._may_touch(request, obj)

    @staticmethod
    def _may_touch(request: HttpRequest, obj: Any) -> bool:
        """A superuser's account opens read-only for anyone else (its password, above all)."""
        return obj is None or not obj.is_superuser or request.user.is_superuser

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj: Any) -> str:
        return obj.get_full_name() or "—"

    @admin.display(description="Superuser", boolean=True, ordering="is_superuser")
    def superuser(self, obj: Any) -> bool:
        return obj.is_superuser

    @admin.display(description="Role", ordering="_role")
    def role_name(self, obj: Any) -> str:
        return obj._role or "—"

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        data, actor = form.cleaned_data, request.user
        if not change:
            saved = account_services.admin_account_create(
                actor=actor,
                username=data["username"],
                password=data["password1"],
                role=data.get("role"),
                email=data.get("email", ""),
                first_name=data.get("first_name", ""),
                last_name=data.get("last_name", ""),
            )
            obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
            obj._state.adding, obj._state.db = False, saved._state.db
            return
        fields = {name: data[name] for name in account_services.ACCOUNT_FIELDS if name in form.changed_data}
        account_services.admin_account_update(account=obj, actor=actor, **fields)
        if "role" in form.fields:
            admin_set_role(admin=obj, role=data.get("role"), actor=actor)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        account_services.admin_account_delete(account=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for account in queryset:
            account_services.admin_account_delete(account=account, actor=request.user)
