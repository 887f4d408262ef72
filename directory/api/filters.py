"""Query filters for directory lists (django-filter); every filter is documented in the schema.

Ids are filtered with number filters rather than model-choice filters: an id that matches
nothing gives an empty page, like any other filter, instead of a 400 that would confirm which
ids exist.
"""

from __future__ import annotations

from typing import Any

import django_filters as filters
from django import forms
from django.db.models import Q, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from directory.choices import ActorType
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

MAX_ID = 2**63 - 1


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """An integer id; out-of-range numbers are a 400, not a database error."""

    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


class UserFilter(filters.FilterSet):
    """Users by state, department, type, location, manager, group; ``search`` matches names and email."""

    department = filters.CharFilter(lookup_expr="iexact")
    location = filters.CharFilter(lookup_expr="iexact")
    manager = IdFilter(field_name="manager_id")
    group = IdFilter(field_name="groups__id", help_text="Members of this user group (id).")
    search = filters.CharFilter(method="filter_search", help_text="Part of the username, email or name.")

    class Meta:
        model = User
        fields = ("state", "employee_type", "department", "location", "mfa_enrolled", "account_locked")

    def filter_search(self, queryset: QuerySet[User], name: str, value: str) -> QuerySet[User]:
        return queryset.filter(
            Q(username__icontains=value)
            | Q(email__icontains=value)
            | Q(first_name__icontains=value)
            | Q(last_name__icontains=value)
        )


class UserGroupFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    member = IdFilter(field_name="members__id", help_text="Groups this user (id) belongs to.")

    class Meta:
        model = UserGroup
        fields = ("name",)


class DeviceFilter(filters.FilterSet):
    owner = IdFilter(field_name="owner_id")
    device_group = IdFilter(field_name="device_groups__id", help_text="Members of this device group (id).")
    hostname = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Device
        fields = ("os_family", "active", "locked", "disk_encrypted", "firewall_enabled", "hostname")


class DeviceGroupFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    member = IdFilter(field_name="members__id", help_text="Device groups this device (id) belongs to.")

    class Meta:
        model = DeviceGroup
        fields = ("name",)


class PolicyFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")
    device = IdFilter(field_name="devices__id", help_text="Policies bound directly to this device (id).")
    device_group = IdFilter(field_name="device_groups__id", help_text="Policies bound to this device group (id).")

    class Meta:
        model = Policy
        fields = ("type", "name")


class CommandFilter(filters.FilterSet):
    name = filters.CharFilter(lookup_expr="icontains")

    class Meta:
        model = Command
        fields = ("shell", "name")


class CommandRunFilter(filters.FilterSet):
    command = IdFilter(field_name="command_id")
    device = IdFilter(field_name="device_id")
    requested_after = filters.IsoDateTimeFilter(field_name="requested_at", lookup_expr="gte")
    requested_before = filters.IsoDateTimeFilter(field_name="requested_at", lookup_expr="lt")

    class Meta:
        model = CommandRun
        fields = ("status",)


class NotificationChannelFilter(filters.FilterSet):
    class Meta:
        model = NotificationChannel
        fields = ("kind", "enabled")


class ConnectionFilter(filters.FilterSet):
    class Meta:
        model = Connection
        fields = ("auth_type", "verify_tls")


class RoleFilter(filters.FilterSet):
    class Meta:
        model = AdminRole
        fields = ("is_builtin",)


class DirectoryEventFilter(filters.FilterSet):
    """The event log by type, resource, actor and time range."""

    type = filters.CharFilter(help_text="An event type, e.g. user.created.")
    type_prefix = filters.CharFilter(field_name="type", lookup_expr="startswith", help_text="e.g. user.")
    resource_type = filters.CharFilter()
    resource_id = filters.CharFilter()
    resource_name = filters.CharFilter(lookup_expr="icontains")
    actor_type = filters.ChoiceFilter(choices=ActorType.choices)
    actor_id = filters.CharFilter()
    actor_name = filters.CharFilter(lookup_expr="iexact")
    caused_by_execution = IdFilter(field_name="caused_by_execution_id")
    occurred_after = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="gte")
    occurred_before = filters.IsoDateTimeFilter(field_name="occurred_at", lookup_expr="lt")

    class Meta:
        model = DirectoryEvent
        fields: tuple[str, ...] = ()
