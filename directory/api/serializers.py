"""Directory objects as the API shows and accepts them.

Serializers validate the shape of a request (types, lengths, choices, unknown ids → 400 with
the field's path); the services then apply the model's own rules and write. Field names are
the model's, which are also the names workflow actions take (``user.update`` with
``job_title``…), so a script and a workflow speak the same words.

Channel secrets (``webhook_url``, ``signing_key``) and connection secrets (``secret``) are
write-only: responses say only whether one is set (``has_webhook_url``, ``has_signing_key``,
``has_secret``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.models import (
    AdminRole,
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

_TIMESTAMPS = ("created_at", "updated_at")


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.JSONField):
    """A JSON object (custom attributes, policy settings): a list or a string is refused here,
    with the field's name, rather than deep inside a save."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class AttributesField(JSONObjectField):
    """Custom attributes: values under secret-looking keys (``api_token``…) are shown as ``***``
    (``directory.redaction``), and a ``***`` sent back for such a key keeps the stored value, so a
    ``GET`` then ``PUT`` does not overwrite the secret with the placeholder."""

    def to_representation(self, value: Any) -> Any:
        return redact(super().to_representation(value))

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        value = super().to_internal_value(data)
        instance = getattr(self.parent, "instance", None)
        stored = getattr(instance, self.source, None) if isinstance(instance, User | UserGroup | Device) else None
        return restore_redacted(value, stored)


class UserSerializer(serializers.ModelSerializer):
    """A person in the directory. ``attributes`` on update is merged key by key (null removes)."""

    attributes = AttributesField(
        required=False, help_text="Custom attributes (a JSON object); secret-looking keys are shown as ***."
    )
    display_name = serializers.CharField(read_only=True)
    groups = serializers.PrimaryKeyRelatedField(many=True, read_only=True, help_text="Ids of the user's groups.")

    class Meta:
        model = User
        fields = (
            "id",
            "username",
            "email",
            "first_name",
            "last_name",
            "display_name",
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
            "groups",
            *_TIMESTAMPS,
        )
        read_only_fields = ("last_login_at", *_TIMESTAMPS)


class UserSummarySerializer(serializers.ModelSerializer):
    """A user as listed among a group's members."""

    display_name = serializers.CharField(read_only=True)

    class Meta:
        model = User
        fields = ("id", "username", "email", "display_name", "state")
        read_only_fields = fields


class UserGroupSerializer(serializers.ModelSerializer):
    """A user group; members are managed under ``user-groups/{id}/members/``."""

    attributes = AttributesField(required=False)
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = UserGroup
        fields = ("id", "name", "description", "attributes", "member_count", *_TIMESTAMPS)
        read_only_fields = _TIMESTAMPS


class UserMemberSerializer(serializers.Serializer):
    """Add a user to a group."""

    user = serializers.PrimaryKeyRelatedField(queryset=User.objects.all())


class DeviceMemberSerializer(serializers.Serializer):
    """Add a device to a device group."""

    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.all())


class MembershipChangeSerializer(serializers.Serializer):
    """The result of a membership or binding change; ``changed`` is false when it already was so."""

    changed = serializers.BooleanField()


class DeviceSerializer(serializers.ModelSerializer):
    """A managed device. ``attributes`` on update is merged key by key (null removes)."""

    attributes = AttributesField(required=False)
    device_groups = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Device
        fields = (
            "id",
            "hostname",
            "display_name",
            "os_family",
            "os_version",
            "serial_number",
            "owner",
            "last_contact_at",
            "disk_encrypted",
            "firewall_enabled",
            "agent_version",
            "locked",
            "active",
            "attributes",
            "device_groups",
            *_TIMESTAMPS,
        )
        read_only_fields = _TIMESTAMPS


class DeviceSummarySerializer(serializers.ModelSerializer):
    """A device as listed among a device group's members."""

    class Meta:
        model = Device
        fields = ("id", "hostname", "display_name", "os_family", "active")
        read_only_fields = fields


class DeviceGroupSerializer(serializers.ModelSerializer):
    """A device group; members are managed under ``device-groups/{id}/members/``."""

    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = DeviceGroup
        fields = ("id", "name", "description", "member_count", *_TIMESTAMPS)
        read_only_fields = _TIMESTAMPS


class PolicySerializer(serializers.ModelSerializer):
    """A policy; bind and unbind it with ``policies/{id}/bind/`` and ``unbind/``."""

    settings = JSONObjectField(required=False)
    devices = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    device_groups = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Policy
        fields = ("id", "name", "type", "description", "settings", "devices", "device_groups", *_TIMESTAMPS)
        read_only_fields = _TIMESTAMPS


class PolicyBindingSerializer(serializers.Serializer):
    """Exactly one of ``device`` or ``device_group``."""

    device = serializers.PrimaryKeyRelatedField(queryset=Device.objects.all(), required=False, allow_null=True)
    device_group = serializers.PrimaryKeyRelatedField(
        queryset=DeviceGroup.objects.all(), required=False, allow_null=True
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if (attrs.get("device") is None) == (attrs.get("device_group") is None):
            raise serializers.ValidationError("Give exactly one of device or device_group.")
        return attrs


class CommandSerializer(serializers.ModelSerializer):
    """A command admins and workflows can run on devices."""

    class Meta:
        model = Command
        fields = ("id", "name", "description", "shell", "script", "timeout_seconds", "builtin", *_TIMESTAMPS)
        read_only_fields = ("builtin", *_TIMESTAMPS)


class CommandRunSerializer(serializers.ModelSerializer):
    """One run of a command on a device; created by ``POST command-runs/`` and reported by the agent."""

    class Meta:
        model = CommandRun
        fields = (
            "id",
            "command",
            "device",
            "status",
            "exit_code",
            "output",
            "requested_by",
            "requested_at",
            "started_at",
            "finished_at",
        )
        read_only_fields = tuple(f for f in fields if f not in {"command", "device"})


class NotificationChannelSerializer(serializers.ModelSerializer):
    """A notification channel. Secrets are write-only: send them, never get them back.

    On update a secret left out (or null) keeps its stored value; an empty string clears it.
    """

    recipients = serializers.ListField(
        child=serializers.EmailField(max_length=254), required=False, help_text="Email addresses (email lists only)."
    )
    webhook_url = serializers.CharField(
        write_only=True, required=False, allow_blank=True, allow_null=True, max_length=2000
    )
    signing_key = serializers.CharField(
        write_only=True, required=False, allow_blank=True, allow_null=True, max_length=2000
    )
    has_webhook_url = serializers.BooleanField(read_only=True)
    has_signing_key = serializers.BooleanField(read_only=True)

    class Meta:
        model = NotificationChannel
        fields = (
            "id",
            "name",
            "kind",
            "description",
            "recipients",
            "webhook_url",
            "signing_key",
            "has_webhook_url",
            "has_signing_key",
            "enabled",
            *_TIMESTAMPS,
        )
        read_only_fields = _TIMESTAMPS


class ConnectionSerializer(serializers.ModelSerializer):
    """An outside HTTP service and its credentials. ``secret`` (token, password or API key) is
    write-only: send it, never get it back; ``has_secret`` says whether one is stored.

    On update a secret left out (or null) keeps its stored value; an empty string clears it.
    """

    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=4000,
        trim_whitespace=False,
        help_text="Bearer token, basic-auth password or API key. Write-only.",
    )
    has_secret = serializers.BooleanField(read_only=True)

    class Meta:
        model = Connection
        fields = (
            "id",
            "name",
            "description",
            "base_url",
            "auth_type",
            "username",
            "secret",
            "has_secret",
            "header_name",
            "verify_tls",
            "timeout_seconds",
            *_TIMESTAMPS,
        )
        read_only_fields = _TIMESTAMPS


class RoleSerializer(serializers.ModelSerializer):
    """An admin role: built-in (read-only) or custom, created from a built-in one."""

    name = serializers.CharField(max_length=150)
    based_on = serializers.PrimaryKeyRelatedField(
        queryset=AdminRole.objects.all(), required=False, allow_null=True, help_text="Role to copy permissions from."
    )
    permissions = serializers.SerializerMethodField(help_text="Model permissions, as app_label.codename.")

    class Meta:
        model = AdminRole
        fields = ("id", "name", "key", "description", "is_builtin", "based_on", "permissions", "created_at")
        read_only_fields = ("key", "is_builtin", "created_at")

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_permissions(self, role: AdminRole) -> list[str]:
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in role.group.permissions.all())


class RoleRefSerializer(serializers.ModelSerializer):
    """A role named in another object (a workflow's run-as, the narrowest role)."""

    name = serializers.CharField(read_only=True)

    class Meta:
        model = AdminRole
        fields = ("id", "key", "name")
        read_only_fields = fields


class ActorSerializer(serializers.Serializer):
    """Who made a change: an admin, an API token, a workflow execution or the system."""

    type = serializers.CharField()
    id = serializers.CharField()
    name = serializers.CharField()


class DirectoryEventSerializer(serializers.ModelSerializer):
    """One entry of the directory event log (read-only). Events are stored redacted; events
    written before that are redacted here."""

    actor = ActorSerializer(read_only=True)

    def to_representation(self, instance: DirectoryEvent) -> dict[str, Any]:
        data = super().to_representation(instance)
        data["changes"] = redact_changes(data.get("changes"))
        data["snapshot"] = redact(data.get("snapshot"))
        return data

    class Meta:
        model = DirectoryEvent
        fields = (
            "id",
            "type",
            "occurred_at",
            "actor",
            "resource_type",
            "resource_id",
            "resource_name",
            "related_type",
            "related_id",
            "related_name",
            "changes",
            "snapshot",
            "caused_by_execution_id",
            "depth",
            "dispatched_at",
            "dispatch_note",
        )
        read_only_fields = fields
