"""Django admin for the directory, the event log and admin roles.

Admin forms validate as usual, but saving goes through the services so that admin edits
write the same events as the API and workflows. Many-to-many widgets (group members, policy
bindings) emit member events through the signal receivers, attributed to the signed-in admin
by ``ActorMiddleware``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils.html import format_html
from guardian.admin import GuardedModelAdmin

from directory import services
from directory.choices import ActorType, AgentTokenKind, ResourceType
from directory.event_types import EVENT_TYPES
from directory.models import (
    AgentToken,
    Command,
    CommandRun,
    Connection,
    Device,
    DeviceGroup,
    DirectoryEvent,
    NotificationChannel,
    Policy,
    User,
    UserGroup,
)
from directory.redaction import redact, redact_changes, restore_redacted


def _adopt(obj: models.Model, saved: models.Model) -> None:
    """Make the admin's form instance the object the service saved, including its database
    state: ``save_related`` then writes many-to-many rows (group members on the add form) to it,
    and Django refuses to relate an instance whose ``_state.db`` is still unset."""
    obj.__dict__.update({k: v for k, v in saved.__dict__.items() if k != "_state"})
    obj._state.adding = False
    obj._state.db = saved._state.db


class ServiceAdmin(GuardedModelAdmin):
    """A model admin whose saves and deletes call the app's services.

    ``create_service(actor=, **fields)``, ``update_service(<instance_arg>=, actor=, **fields)``
    and ``delete_service(<instance_arg>=, actor=)`` are named per model.
    """

    instance_arg = ""
    create_service: Callable[..., Any] | None = None
    update_service: Callable[..., Any] | None = None
    delete_service: Callable[..., Any] | None = None
    # The update service patches ``attributes`` key by key; the form holds the whole object.
    patches_attributes = False

    def _concrete_fields(self, form: forms.ModelForm) -> dict[str, Any]:
        names = {f.name for f in self.model._meta.concrete_fields}
        return {k: v for k, v in form.cleaned_data.items() if k in names}

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        """Custom attributes are shown with secret-looking values as ``***`` (``directory.redaction``);
        saving puts the stored values back under any ``***`` left as it was."""
        form = super().get_form(request, obj, change=change, **kwargs)
        if "attributes" not in form.base_fields:
            return form

        class RedactedAttributesForm(form):  # type: ignore[misc, valid-type]
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                if "attributes" in self.initial:
                    self.initial["attributes"] = redact(self.initial["attributes"])

        return RedactedAttributesForm

    def get_fields(self, request: HttpRequest, obj: Any = None) -> list[Any]:
        fields = list(super().get_fields(request, obj))
        if self._attributes_read_only(request, obj) and "attributes" in fields:
            fields = [f for f in fields if f != "redacted_attributes"]
            fields[fields.index("attributes")] = "redacted_attributes"
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if self._attributes_read_only(request, obj):
            readonly += ("redacted_attributes",)
        return readonly

    def _attributes_read_only(self, request: HttpRequest, obj: Any) -> bool:
        """A view-only page shows model fields as they are stored: attributes get their own display."""
        has_attributes = any(f.name == "attributes" for f in self.model._meta.concrete_fields)
        return has_attributes and obj is not None and not self.has_change_permission(request, obj)

    @admin.display(description="attributes")
    def redacted_attributes(self, obj: models.Model) -> str:
        return _as_json(redact(getattr(obj, "attributes", None)))

    def save_model(self, request: HttpRequest, obj: models.Model, form: forms.ModelForm, change: bool) -> None:
        try:
            if change:
                changed = {k: v for k, v in self._concrete_fields(form).items() if k in form.changed_data}
                if "attributes" in changed:
                    stored = type(obj).objects.filter(pk=obj.pk).values_list("attributes", flat=True).first()
                    changed["attributes"] = restore_redacted(changed["attributes"], stored)
                if self.patches_attributes and "attributes" in changed:
                    changed["attributes"] = _attributes_patch(form.initial.get("attributes"), changed["attributes"])
                saved = type(self).update_service(**{self.instance_arg: obj}, actor=request.user, **changed)
            else:
                saved = type(self).create_service(actor=request.user, **self._concrete_fields(form))
        except ValidationError as exc:  # defensive: the form validated the same rules
            messages.error(request, "; ".join(exc.messages))
            raise
        _adopt(obj, saved)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        type(self).delete_service(**{self.instance_arg: obj}, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            self.delete_model(request, obj)


def _as_json(value: Any) -> str:
    """A JSON value for a read-only admin page."""
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False, default=str))


def _attributes_patch(stored: Any, edited: Any) -> dict[str, Any]:
    """Turn the form's whole attributes object into the service's patch: keys the admin
    removed become ``None`` (delete), the rest are set."""
    stored = stored if isinstance(stored, dict) else {}
    edited = edited if isinstance(edited, dict) else {}
    return {**{key: None for key in stored if key not in edited}, **edited}


class UserAdminForm(forms.ModelForm):
    """Checks the service's own rules (state transitions, self-management) so that breaking
    them shows a form error instead of failing the save."""

    class Meta:
        model = User
        fields = (
            "username",
            "email",
            "first_name",
            "last_name",
            "state",
            "department",
            "job_title",
            "employee_type",
            "location",
            "manager",
            "employee_id",
            "hire_date",
            "termination_date",
            "mfa_enrolled",
            "account_locked",
            "password_expired",
            "last_login_at",
            "attributes",
        )

    def clean_state(self) -> str:
        state = self.cleaned_data["state"]
        current = self.instance.state if self.instance.pk else None
        if current and state != current and state not in services.USER_TRANSITIONS.get(current, set()):
            raise ValidationError(f"A user who is {current} cannot become {state}.")
        return state

    def clean_manager(self) -> User | None:
        manager = self.cleaned_data.get("manager")
        if manager is not None and self.instance.pk and manager.pk == self.instance.pk:
            raise ValidationError("A user cannot be their own manager.")
        return manager


@admin.register(User)
class UserAdmin(ServiceAdmin):
    form = UserAdminForm
    instance_arg = "user"
    create_service = services.user_create
    update_service = services.user_update
    delete_service = services.user_delete
    patches_attributes = True
    list_display = (
        "username",
        "email",
        "display_name",
        "state",
        "department",
        "employee_type",
        "account_locked",
    )
    list_filter = (
        "state",
        "department",
        "employee_type",
        "account_locked",
        "mfa_enrolled",
        "password_expired",
    )
    search_fields = ("username", "email", "first_name", "last_name", "employee_id")
    autocomplete_fields = ("manager",)
    readonly_fields = ("created_at", "updated_at")
    actions = ("activate", "suspend", "lock", "unlock", "expire_password")

    def has_change_state_permission(self, request: HttpRequest) -> bool:
        """Activating and suspending is its own permission (Help Desk may edit, not suspend)."""
        return request.user.has_perm("directory.change_user_state")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if not self.has_change_state_permission(request):
            # Without the state permission the state field would be a back door to suspending.
            readonly += ("state",)
        return readonly

    def _bulk(self, request: HttpRequest, queryset: QuerySet, service: Callable[..., Any], verb: str) -> None:
        done, failed = 0, []
        for user in queryset:
            try:
                service(user=user, actor=request.user)
                done += 1
            except ValidationError as exc:
                failed.append(f"{user}: {'; '.join(exc.messages)}")
        messages.info(request, f"{verb} {done} user(s).")
        for failure in failed:
            messages.error(request, failure)

    @admin.action(description="Activate selected users", permissions=["change_state"])
    def activate(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, services.user_activate, "Activated")

    @admin.action(description="Suspend selected users", permissions=["change_state"])
    def suspend(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, services.user_suspend, "Suspended")

    @admin.action(description="Lock selected accounts", permissions=["change"])
    def lock(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, services.user_lock, "Locked")

    @admin.action(description="Unlock selected accounts", permissions=["change"])
    def unlock(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, services.user_unlock, "Unlocked")

    @admin.action(description="Expire passwords of selected users", permissions=["change"])
    def expire_password(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._bulk(request, queryset, services.user_expire_password, "Expired the password of")


@admin.register(UserGroup)
class UserGroupAdmin(ServiceAdmin):
    instance_arg = "group"
    create_service = services.group_create
    update_service = services.group_update
    delete_service = services.group_delete
    list_display = ("name", "description", "member_count")
    search_fields = ("name",)
    filter_horizontal = ("members",)

    @admin.display(description="Members")
    def member_count(self, obj: UserGroup) -> int:
        return obj.members.count()


@admin.register(Device)
class DeviceAdmin(ServiceAdmin):
    instance_arg = "device"
    create_service = services.device_create
    update_service = services.device_update
    delete_service = services.device_delete
    patches_attributes = True
    list_display = (
        "hostname",
        "os_family",
        "os_version",
        "owner",
        "disk_encrypted",
        "firewall_enabled",
        "active",
        "agent_enrolled",
    )
    list_filter = ("os_family", "disk_encrypted", "firewall_enabled", "active", "locked")
    search_fields = ("hostname", "display_name", "serial_number")
    autocomplete_fields = ("owner",)
    actions = ("create_enrolment_tokens", "revoke_agent_tokens")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        agents = AgentToken.objects.filter(device=OuterRef("pk"), kind=AgentTokenKind.AGENT, revoked_at__isnull=True)
        return super().get_queryset(request).annotate(has_agent=Exists(agents))

    @admin.display(boolean=True, description="Agent")
    def agent_enrolled(self, obj: Device) -> bool:
        return obj.has_agent

    @admin.action(description="Create agent enrolment tokens for selected devices", permissions=["change"])
    def create_enrolment_tokens(self, request: HttpRequest, queryset: QuerySet) -> TemplateResponse | None:
        """Show each new token once, on a page of its own (never in a message stored in the session)."""
        created = []
        for device in queryset:
            try:
                row, token = services.agent_enrolment_token_create(device=device, actor=request.user)
            except ValidationError as exc:
                messages.error(request, f"{device}: {'; '.join(exc.messages)}")
                continue
            created.append({"device": device, "token": token, "expires_at": row.expires_at})
        if not created:
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Agent enrolment tokens",
            "opts": self.model._meta,
            "tokens": created,
            "server": request.build_absolute_uri("/").rstrip("/"),
        }
        response = TemplateResponse(request, "directory/admin/agent_enrolment_tokens.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke agent tokens of selected devices", permissions=["change"])
    def revoke_agent_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        devices = list(queryset)
        revoked = sum(services.agent_tokens_revoke(device=device, actor=request.user) for device in devices)
        messages.info(request, f"Revoked {revoked} token(s) of {len(devices)} device(s).")


@admin.register(AgentToken)
class AgentTokenAdmin(admin.ModelAdmin):
    """Agent and enrolment tokens, read-only but for revoking. Guarded by the device permissions
    (seeing devices, changing devices) rather than permissions of their own, as in the API."""

    list_display = ("prefix", "device", "kind", "active", "created_by", "created_at", "last_used_at", "revoked_at")
    list_filter = ("kind", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("device",)
    search_fields = ("device__hostname", "prefix")
    readonly_fields = (
        "device",
        "kind",
        "prefix",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "last_used_at",
        "revoked_at",
    )
    fields = readonly_fields
    actions = ("revoke",)

    @admin.display(boolean=True, description="Active")
    def active(self, obj: AgentToken) -> bool:
        return obj.is_active

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("directory.view_device")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("directory.change_device")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        revoked = services.agent_tokens_revoke(tokens=list(queryset), actor=request.user)
        messages.info(request, f"Revoked {revoked} token(s).")


@admin.register(DeviceGroup)
class DeviceGroupAdmin(ServiceAdmin):
    instance_arg = "device_group"
    create_service = services.device_group_create
    update_service = services.device_group_update
    delete_service = services.device_group_delete
    list_display = ("name", "description")
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(Policy)
class PolicyAdmin(ServiceAdmin):
    instance_arg = "policy"
    create_service = services.policy_create
    update_service = services.policy_update
    delete_service = services.policy_delete
    list_display = ("name", "type")
    list_filter = ("type",)
    search_fields = ("name",)
    filter_horizontal = ("devices", "device_groups")


@admin.register(Command)
class CommandAdmin(ServiceAdmin):
    instance_arg = "command"
    create_service = services.command_create
    update_service = services.command_update
    delete_service = services.command_delete
    list_display = ("name", "shell", "timeout_seconds")
    search_fields = ("name",)


@admin.register(CommandRun)
class CommandRunAdmin(admin.ModelAdmin):
    """Command runs are written by runs and agents, so the admin shows them read-only."""

    list_display = ("command", "device", "status", "exit_code", "requested_by", "requested_at", "finished_at")
    list_filter = ("status",)
    search_fields = ("command__name", "device__hostname")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class NotificationChannelForm(forms.ModelForm):
    """Secrets are write-only: the inputs never render the stored value; blank keeps it."""

    webhook_url = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current value.",
    )
    signing_key = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Optional. Stored encrypted and never shown again. Leave blank to keep the current value.",
    )

    class Meta:
        model = NotificationChannel
        fields = ("name", "kind", "description", "recipients", "webhook_url", "signing_key", "enabled")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for secret in ("webhook_url", "signing_key"):
            if not cleaned.get(secret) and self.instance.pk:
                # Keep the stored value; mark unchanged so the update service leaves it alone.
                cleaned[secret] = getattr(self.instance, secret)
                if secret in self.changed_data:
                    self.changed_data.remove(secret)
        # The service's channel rules, shown on the form rather than failing the save (they
        # depend on the kind, so only once the kind itself is valid).
        if "kind" in cleaned:
            probe = NotificationChannel(
                kind=cleaned["kind"],
                recipients=cleaned.get("recipients"),
                webhook_url=cleaned.get("webhook_url") or "",
            )
            try:
                services.channel_validate(probe)
            except ValidationError as exc:
                self.add_error(None, exc)
        return cleaned


@admin.register(NotificationChannel)
class NotificationChannelAdmin(ServiceAdmin):
    form = NotificationChannelForm
    instance_arg = "channel"
    create_service = services.channel_create
    update_service = services.channel_update
    delete_service = services.channel_delete
    list_display = ("name", "kind", "enabled", "has_webhook_url", "has_signing_key")
    list_filter = ("kind", "enabled")

    @admin.display(boolean=True, description="Webhook URL set")
    def has_webhook_url(self, obj: NotificationChannel) -> bool:
        return obj.has_webhook_url

    @admin.display(boolean=True, description="Signing key set")
    def has_signing_key(self, obj: NotificationChannel) -> bool:
        return obj.has_signing_key


class ConnectionForm(forms.ModelForm):
    """The secret is write-only: the input never renders the stored value; blank keeps it."""

    base_url = forms.URLField(
        max_length=2000,
        assume_scheme="https",
        help_text=Connection._meta.get_field("base_url").help_text,
    )

    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Token, password or API key. Stored encrypted and never shown again. "
        "Leave blank to keep the current value.",
    )

    class Meta:
        model = Connection
        fields = (
            "name",
            "description",
            "base_url",
            "auth_type",
            "username",
            "secret",
            "header_name",
            "verify_tls",
            "timeout_seconds",
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if not cleaned.get("secret") and self.instance.pk:
            # Keep the stored value; mark unchanged so the update service leaves it alone.
            cleaned["secret"] = self.instance.secret
            if "secret" in self.changed_data:
                self.changed_data.remove("secret")
        # The service's connection rules, shown on the form rather than failing the save (they
        # depend on the URL and the auth type, so only once those are valid fields).
        if "base_url" in cleaned and "auth_type" in cleaned:
            probe = Connection(
                base_url=cleaned["base_url"],
                auth_type=cleaned["auth_type"],
                username=cleaned.get("username") or "",
                secret=cleaned.get("secret") or "",
                header_name=cleaned.get("header_name") or "",
            )
            try:
                services.connection_validate(probe)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
        return cleaned


@admin.register(Connection)
class ConnectionAdmin(ServiceAdmin):
    form = ConnectionForm
    instance_arg = "connection"
    create_service = services.connection_create
    update_service = services.connection_update
    delete_service = services.connection_delete
    list_display = ("name", "base_url", "auth_type", "verify_tls", "has_secret")
    list_filter = ("auth_type", "verify_tls")
    search_fields = ("name", "base_url")

    @admin.display(boolean=True, description="Secret set")
    def has_secret(self, obj: Connection) -> bool:
        return obj.has_secret


class _RegistryFilter(admin.SimpleListFilter):
    """A filter whose choices come from a registry, not ``SELECT DISTINCT`` over the whole log
    (the default for a char field, and a full scan once the log is large)."""

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class EventTypeFilter(_RegistryFilter):
    title = "type"
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(key, key) for key in sorted(EVENT_TYPES)]


class ResourceTypeFilter(_RegistryFilter):
    title = "resource type"
    parameter_name = "resource_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(ResourceType.choices)


class ActorTypeFilter(_RegistryFilter):
    title = "actor type"
    parameter_name = "actor_type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(ActorType.choices)


@admin.register(DirectoryEvent)
class DirectoryEventAdmin(admin.ModelAdmin):
    """The event log (Directory Insights): read-only, filterable by type, resource, actor and date."""

    # Who did what to what first: the actor is what an admin reads the log for, and the columns
    # after it scroll out of view on a narrow screen (the type names the resource's kind).
    list_display = (
        "occurred_at",
        "type",
        "resource_name",
        "related_name",
        "by",
        "actor_type",
        "depth",
        "dispatched_at",
    )
    list_filter = (EventTypeFilter, ResourceTypeFilter, ActorTypeFilter, "occurred_at")
    search_fields = ("resource_name", "resource_id", "related_name", "actor_name", "actor_id")
    date_hierarchy = "occurred_at"
    fields = readonly_fields = [
        {"changes": "redacted_changes", "snapshot": "redacted_snapshot"}.get(f.name, f.name)
        for f in DirectoryEvent._meta.fields
    ]
    show_full_result_count = False  # a second COUNT(*) over the whole log on every filtered page

    @admin.display(description="By", ordering="actor_name")
    def by(self, obj: DirectoryEvent) -> str:
        return obj.actor_name or obj.get_actor_type_display()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="changes")
    def redacted_changes(self, obj: DirectoryEvent) -> str:
        """Events are stored redacted; older ones are redacted here."""
        return _as_json(redact_changes(obj.changes))

    @admin.display(description="snapshot")
    def redacted_snapshot(self, obj: DirectoryEvent) -> str:
        return _as_json(redact(obj.snapshot))


# Keyflow's admin: its name, "View site" and the header's builder link lead to the builder pages.
admin.site.site_header = "Keyflow administration"
admin.site.site_title = "Keyflow administration"
admin.site.index_title = "Directory, admin roles and admin accounts"
admin.site.site_url = "/workflows/"

# Roles have one place, Admin roles; their auth groups are an implementation detail.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)

# Admin roles, and admin accounts (Django auth users) with one role each; imported here so
# that autodiscover finds them.
from directory import admin_accounts, role_admin  # noqa: E402, F401
