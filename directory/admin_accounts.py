"""Admin accounts in the Django admin: each account holds exactly one admin role.

Django's stock user admin lets an account join any number of groups; Keyflow's model is one
role per admin (as in JumpCloud), so the groups widget is replaced by a single role choice.
Run-as principals (``runas-…``) are service accounts, not people: they are listed read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.http import HttpRequest

from directory.models import AdminRole
from directory.role_services import PRINCIPAL_PREFIX, admin_set_role

User = get_user_model()


class _RoleField(forms.ModelChoiceField):
    def label_from_instance(self, obj: AdminRole) -> str:
        return obj.name


def _role_field() -> _RoleField:
    return _RoleField(
        queryset=AdminRole.objects.select_related("group"),
        required=False,
        help_text="The one admin role this account holds. No role: the account can sign in but do nothing.",
    )


class AdminAccountChangeForm(UserChangeForm):
    role = _role_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["role"].initial = AdminRole.objects.filter(group__user=self.instance).first()


class AdminAccountCreationForm(UserCreationForm):
    role = _role_field()


if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class AdminAccountAdmin(DjangoUserAdmin):
    form = AdminAccountChangeForm
    add_form = AdminAccountCreationForm
    list_display = ("username", "email", "role_name", "is_active", "is_staff", "is_superuser", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser", "groups")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email")}),
        ("Access", {"fields": ("role", "is_active", "is_staff", "is_superuser")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("username", "email", "role", "password1", "password2")}),)

    @admin.display(description="Role")
    def role_name(self, obj: Any) -> str:
        role = AdminRole.objects.filter(group__user=obj).select_related("group").first()
        return role.name if role else "—"

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.username.startswith(PRINCIPAL_PREFIX) and not obj.has_usable_password():
            return False
        return super().has_change_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        if not change:
            obj.is_staff = True
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        role = form.cleaned_data.get("role")
        if role is not None:
            admin_set_role(admin=form.instance, role=role, actor=request.user)
        else:
            form.instance.groups.clear()
