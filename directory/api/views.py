"""The directory over REST: thin views that validate with serializers and write with services.

Every write calls a ``directory.services`` function with ``actor=api_actor(request)``, so the
event log says which admin (or API token) made the change and workflows trigger exactly as
they do for changes made in the admin. After a write the object is read back through the
view's queryset so the response has the same fields (member counts, group ids) as a GET.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from directory import role_services, selectors, services
from directory.api import agent, filters, serializers
from directory.api.base import KeyflowGenericViewSet, KeyflowModelViewSet, api_actor
from directory.choices import UserState
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

_CHANGED = OpenApiResponse(serializers.MembershipChangeSerializer, description="Done (`changed` false: already so).")


def _reread(view: Any, obj: Model) -> Model:
    """The object as the list and detail views show it (annotations, prefetched relations)."""
    return view.get_queryset().get(pk=obj.pk)


def _member_pk(value: str) -> int:
    """A member id from the URL; anything but a number is simply not found."""
    try:
        pk = int(value)
    except ValueError:
        raise exceptions.NotFound() from None
    if not 0 < pk < 2**63:
        raise exceptions.NotFound()
    return pk


class _ServiceViewSet(KeyflowModelViewSet):
    """CRUD where create, update and delete are one service call each."""

    create_service: Any = None
    update_service: Any = None
    delete_service: Any = None
    # The service's keyword for the object (``user=``, ``group=``…).
    instance_kwarg: str = ""

    def perform_create(self, serializer: BaseSerializer) -> None:
        obj = type(self).create_service(actor=api_actor(self.request), **serializer.validated_data)
        serializer.instance = _reread(self, obj)

    def perform_update(self, serializer: BaseSerializer) -> None:
        obj = type(self).update_service(
            actor=api_actor(self.request), **{self.instance_kwarg: serializer.instance}, **serializer.validated_data
        )
        serializer.instance = _reread(self, obj)

    def perform_destroy(self, instance: Model) -> None:
        type(self).delete_service(actor=api_actor(self.request), **{self.instance_kwarg: instance})


class _GroupViewSet(_ServiceViewSet):
    """CRUD plus the ``members`` endpoints of a group kind: list them (paginated), add one, remove one.

    User groups and device groups work the same way and differ only in names, so the logic is
    here once; each viewset keeps its own ``@action``/``@extend_schema`` declarations, because
    operation ids and summaries are part of the API contract and should be read where they are.
    The member is ``<member_kwarg>=`` to the services, as the group is ``<instance_kwarg>=``.
    """

    member_model: type[Model]
    member_kwarg: str = ""
    member_ordering: str = ""
    member_serializer: type[BaseSerializer]
    member_input_serializer: type[BaseSerializer]
    add_member_service: Any = None
    remove_member_service: Any = None

    def _members(self, request: Request) -> Response:
        group = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(group.members.order_by(self.member_ordering))
            return self.get_paginated_response(self.member_serializer(page, many=True).data)
        body = self.member_input_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        changed = type(self).add_member_service(
            **{self.instance_kwarg: group, self.member_kwarg: body.validated_data[self.member_kwarg]},
            actor=api_actor(request),
        )
        return Response({"changed": changed}, status=status.HTTP_201_CREATED if changed else status.HTTP_200_OK)

    def _remove_member(self, request: Request, member_id: str) -> Response:
        group = self.get_object()
        member = get_object_or_404(self.member_model, pk=_member_pk(member_id))
        type(self).remove_member_service(
            **{self.instance_kwarg: group, self.member_kwarg: member}, actor=api_actor(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- users ---------------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List users"),
    create=extend_schema(summary="Create a user"),
    retrieve=extend_schema(summary="Get a user"),
    update=extend_schema(summary="Replace a user's fields"),
    partial_update=extend_schema(summary="Change some of a user's fields"),
    destroy=extend_schema(summary="Delete a user"),
)
class UserViewSet(_ServiceViewSet):
    """People in the directory. Changing ``state`` also needs ``directory.change_user_state``
    (Help Desk may edit users but not activate or suspend them)."""

    queryset = User.objects.prefetch_related("groups")
    serializer_class = serializers.UserSerializer
    filterset_class = filters.UserFilter
    ordering_fields = ("username", "email", "last_name", "department", "state", "hire_date", "created_at", "updated_at")
    perm_model = ("directory", "user")
    operation_prefix = "users"
    create_service = services.user_create
    update_service = services.user_update
    delete_service = services.user_delete
    instance_kwarg = "user"

    def perform_create(self, serializer: BaseSerializer) -> None:
        self._check_state_change(serializer.validated_data.get("state"), UserState.STAGED)
        super().perform_create(serializer)

    def perform_update(self, serializer: BaseSerializer) -> None:
        self._check_state_change(serializer.validated_data.get("state"), serializer.instance.state)
        super().perform_update(serializer)

    def _check_state_change(self, state: str | None, current: str) -> None:
        """Any state but the current one (staged, for a new user) is activating or suspending, which
        needs its own permission: creating a user straight into ``active`` is activating them."""
        if (
            state is not None
            and state != current
            and not self.user_may(self.request.user, "directory.change_user_state")
        ):
            raise exceptions.PermissionDenied("Your role may not activate or suspend users.")


# --- user groups ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List user groups"),
    create=extend_schema(summary="Create a user group"),
    retrieve=extend_schema(summary="Get a user group"),
    update=extend_schema(summary="Replace a user group's fields"),
    partial_update=extend_schema(summary="Change some of a user group's fields"),
    destroy=extend_schema(summary="Delete a user group (its members stay in the directory)"),
)
class UserGroupViewSet(_GroupViewSet):
    """User groups and their members."""

    queryset = UserGroup.objects.annotate(member_count=Count("members"))
    serializer_class = serializers.UserGroupSerializer
    filterset_class = filters.UserGroupFilter
    ordering_fields = ("name", "member_count", "created_at", "updated_at")
    perm_model = ("directory", "usergroup")
    operation_prefix = "user_groups"
    action_permissions = {
        "members": {
            "GET": ("directory.view_usergroup", "directory.view_user"),
            "POST": ("directory.change_usergroup",),
        },
        "remove_member": ("directory.change_usergroup",),
    }
    create_service = services.group_create
    update_service = services.group_update
    delete_service = services.group_delete
    instance_kwarg = "group"
    member_model = User
    member_kwarg = "user"
    member_ordering = "username"
    member_serializer = serializers.UserSummarySerializer
    member_input_serializer = serializers.UserMemberSerializer
    add_member_service = services.group_add_member
    remove_member_service = services.group_remove_member

    @extend_schema(
        methods=["GET"],
        operation_id="user_groups_members_list",
        summary="List a group's members",
        responses=serializers.UserSummarySerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        operation_id="user_groups_members_add",
        summary="Add a user to the group",
        request=serializers.UserMemberSerializer,
        responses={201: _CHANGED, 200: _CHANGED},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request: Request, pk: str | None = None) -> Response:
        return self._members(request)

    @extend_schema(
        operation_id="user_groups_members_remove",
        summary="Remove a user from the group",
        parameters=[OpenApiParameter("user_id", int, OpenApiParameter.PATH, description="The user's id.")],
        request=None,
        responses={204: None},
    )
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<user_id>[^/.]+)", filter_backends=[])
    def remove_member(self, request: Request, pk: str | None = None, user_id: str = "") -> Response:
        return self._remove_member(request, user_id)


# --- devices and device groups -------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List devices"),
    create=extend_schema(summary="Enroll a device"),
    retrieve=extend_schema(summary="Get a device"),
    update=extend_schema(summary="Replace a device's fields"),
    partial_update=extend_schema(summary="Change some of a device's fields"),
    destroy=extend_schema(summary="Remove a device from management"),
)
class DeviceViewSet(_ServiceViewSet):
    """Managed devices."""

    queryset = Device.objects.prefetch_related("device_groups")
    serializer_class = serializers.DeviceSerializer
    filterset_class = filters.DeviceFilter
    ordering_fields = ("hostname", "os_family", "last_contact_at", "created_at", "updated_at")
    perm_model = ("directory", "device")
    operation_prefix = "devices"
    action_permissions = {
        "agent_token": {
            "GET": ("directory.view_device",),
            "POST": ("directory.change_device",),
            "DELETE": ("directory.change_device",),
        }
    }
    create_service = services.device_create
    update_service = services.device_update
    delete_service = services.device_delete
    instance_kwarg = "device"

    @extend_schema(
        methods=["GET"],
        operation_id="devices_agent_token_list",
        summary="Whether the device's agent is enrolled, and its tokens (never the tokens themselves)",
        responses=agent.DeviceAgentSerializer,
    )
    @extend_schema(
        methods=["POST"],
        operation_id="devices_agent_token_create",
        summary="Create a one-use enrolment token for the device's agent (shown once)",
        request=None,
        responses={201: agent.EnrolmentTokenCreatedSerializer},
    )
    @extend_schema(
        methods=["DELETE"],
        operation_id="devices_agent_token_revoke",
        summary="Revoke the device's agent and enrolment tokens",
        request=None,
        responses={200: agent.RevokedSerializer},
    )
    @action(detail=True, methods=["get", "post", "delete"], url_path="agent-token", filter_backends=[])
    def agent_token(self, request: Request, pk: str | None = None) -> Response:
        device = self.get_object()
        actor = api_actor(request)
        if request.method == "DELETE":
            return Response({"revoked": services.agent_tokens_revoke(device=device, actor=actor)})
        if request.method == "POST":
            row, token = services.agent_enrolment_token_create(device=device, actor=actor)
            server = request.build_absolute_uri("/").rstrip("/")
            body = {
                "token": token,
                "expires_at": row.expires_at,
                "device": {"id": device.pk, "hostname": device.hostname},
                "server": server,
                "enrol_command": f"python3 keyflow_agent.py enrol --server {server} --token {token}",
            }
            return Response(agent.EnrolmentTokenCreatedSerializer(body).data, status=status.HTTP_201_CREATED)
        tokens = device.agent_tokens.all()
        return Response(
            agent.DeviceAgentSerializer({"enrolled": selectors.device_has_agent(device), "tokens": tokens}).data
        )


@extend_schema_view(
    list=extend_schema(summary="List device groups"),
    create=extend_schema(summary="Create a device group"),
    retrieve=extend_schema(summary="Get a device group"),
    update=extend_schema(summary="Replace a device group's fields"),
    partial_update=extend_schema(summary="Change some of a device group's fields"),
    destroy=extend_schema(summary="Delete a device group"),
)
class DeviceGroupViewSet(_GroupViewSet):
    """Device groups and their members."""

    queryset = DeviceGroup.objects.annotate(member_count=Count("members"))
    serializer_class = serializers.DeviceGroupSerializer
    filterset_class = filters.DeviceGroupFilter
    ordering_fields = ("name", "member_count", "created_at", "updated_at")
    perm_model = ("directory", "devicegroup")
    operation_prefix = "device_groups"
    action_permissions = {
        "members": {
            "GET": ("directory.view_devicegroup", "directory.view_device"),
            "POST": ("directory.change_devicegroup",),
        },
        "remove_member": ("directory.change_devicegroup",),
    }
    create_service = services.device_group_create
    update_service = services.device_group_update
    delete_service = services.device_group_delete
    instance_kwarg = "device_group"
    member_model = Device
    member_kwarg = "device"
    member_ordering = "hostname"
    member_serializer = serializers.DeviceSummarySerializer
    member_input_serializer = serializers.DeviceMemberSerializer
    add_member_service = services.device_group_add_member
    remove_member_service = services.device_group_remove_member

    @extend_schema(
        methods=["GET"],
        operation_id="device_groups_members_list",
        summary="List a device group's members",
        responses=serializers.DeviceSummarySerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        operation_id="device_groups_members_add",
        summary="Add a device to the device group",
        request=serializers.DeviceMemberSerializer,
        responses={201: _CHANGED, 200: _CHANGED},
    )
    @action(detail=True, methods=["get", "post"], filter_backends=[])
    def members(self, request: Request, pk: str | None = None) -> Response:
        return self._members(request)

    @extend_schema(
        operation_id="device_groups_members_remove",
        summary="Remove a device from the device group",
        parameters=[OpenApiParameter("device_id", int, OpenApiParameter.PATH, description="The device's id.")],
        request=None,
        responses={204: None},
    )
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<device_id>[^/.]+)", filter_backends=[])
    def remove_member(self, request: Request, pk: str | None = None, device_id: str = "") -> Response:
        return self._remove_member(request, device_id)


# --- policies and commands -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List policies"),
    create=extend_schema(summary="Create a policy (unbound)"),
    retrieve=extend_schema(summary="Get a policy"),
    update=extend_schema(summary="Replace a policy's fields"),
    partial_update=extend_schema(summary="Change some of a policy's fields"),
    destroy=extend_schema(summary="Delete a policy and its bindings"),
)
class PolicyViewSet(_ServiceViewSet):
    """Device policies and their bindings to devices and device groups."""

    queryset = Policy.objects.prefetch_related("devices", "device_groups")
    serializer_class = serializers.PolicySerializer
    filterset_class = filters.PolicyFilter
    ordering_fields = ("name", "type", "created_at", "updated_at")
    perm_model = ("directory", "policy")
    operation_prefix = "policies"
    action_permissions = {"bind": ("directory.bind_policy",), "unbind": ("directory.bind_policy",)}
    create_service = services.policy_create
    update_service = services.policy_update
    delete_service = services.policy_delete
    instance_kwarg = "policy"

    def _binding(self, request: Request, service: Any) -> Response:
        policy = self.get_object()
        body = serializers.PolicyBindingSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        changed = service(
            policy=policy,
            actor=api_actor(request),
            device=body.validated_data.get("device"),
            device_group=body.validated_data.get("device_group"),
        )
        return Response({"changed": changed})

    @extend_schema(
        operation_id="policies_bind",
        summary="Bind the policy to a device or a device group",
        request=serializers.PolicyBindingSerializer,
        responses={200: _CHANGED},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def bind(self, request: Request, pk: str | None = None) -> Response:
        return self._binding(request, services.policy_bind)

    @extend_schema(
        operation_id="policies_unbind",
        summary="Unbind the policy from a device or a device group",
        request=serializers.PolicyBindingSerializer,
        responses={200: _CHANGED},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def unbind(self, request: Request, pk: str | None = None) -> Response:
        return self._binding(request, services.policy_unbind)


@extend_schema_view(
    list=extend_schema(summary="List commands"),
    create=extend_schema(summary="Create a command"),
    retrieve=extend_schema(summary="Get a command"),
    update=extend_schema(summary="Replace a command's fields"),
    partial_update=extend_schema(summary="Change some of a command's fields"),
    destroy=extend_schema(summary="Delete a command and its run history"),
)
class CommandViewSet(_ServiceViewSet):
    """Commands (scripts) to run on devices."""

    queryset = Command.objects.all()
    serializer_class = serializers.CommandSerializer
    filterset_class = filters.CommandFilter
    ordering_fields = ("name", "shell", "created_at", "updated_at")
    perm_model = ("directory", "command")
    operation_prefix = "commands"
    create_service = services.command_create
    update_service = services.command_update
    delete_service = services.command_delete
    instance_kwarg = "command"


@extend_schema_view(
    list=extend_schema(summary="List command runs"),
    create=extend_schema(summary="Run a command on a device (queued for the device's agent)"),
    retrieve=extend_schema(summary="Get a command run"),
)
class CommandRunViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, KeyflowGenericViewSet
):
    """Command runs: request one (needs ``directory.run_command``), follow its status."""

    queryset = CommandRun.objects.all()
    serializer_class = serializers.CommandRunSerializer
    filterset_class = filters.CommandRunFilter
    ordering_fields = ("requested_at", "finished_at", "status")
    perm_model = ("directory", "commandrun")
    operation_prefix = "command_runs"
    action_permissions = {"create": ("directory.run_command",)}

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = services.command_run_request(
            command=serializer.validated_data["command"],
            device=serializer.validated_data["device"],
            actor=api_actor(self.request),
        )


# --- notification channels -----------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List notification channels"),
    create=extend_schema(summary="Create a notification channel"),
    retrieve=extend_schema(summary="Get a notification channel (secrets are never returned)"),
    update=extend_schema(summary="Replace a channel's fields (omitted secrets are kept)"),
    partial_update=extend_schema(summary="Change some of a channel's fields"),
    destroy=extend_schema(summary="Delete a notification channel"),
)
class NotificationChannelViewSet(_ServiceViewSet):
    """Where notifications go. ``webhook_url`` and ``signing_key`` are write-only."""

    queryset = NotificationChannel.objects.all()
    serializer_class = serializers.NotificationChannelSerializer
    filterset_class = filters.NotificationChannelFilter
    ordering_fields = ("name", "kind", "created_at", "updated_at")
    perm_model = ("directory", "notificationchannel")
    operation_prefix = "notification_channels"
    update_service = services.channel_update
    delete_service = services.channel_delete
    instance_kwarg = "channel"

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = {k: v for k, v in serializer.validated_data.items() if v is not None}
        channel = services.channel_create(actor=api_actor(self.request), **data)
        serializer.instance = _reread(self, channel)


# --- connections ---------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List connections"),
    create=extend_schema(summary="Create a connection"),
    retrieve=extend_schema(summary="Get a connection (the secret is never returned)"),
    update=extend_schema(summary="Replace a connection's fields (an omitted secret is kept)"),
    partial_update=extend_schema(summary="Change some of a connection's fields"),
    destroy=extend_schema(summary="Delete a connection"),
)
class ConnectionViewSet(_ServiceViewSet):
    """Outside HTTP services that workflow actions call. ``secret`` is write-only."""

    queryset = Connection.objects.all()
    serializer_class = serializers.ConnectionSerializer
    filterset_class = filters.ConnectionFilter
    ordering_fields = ("name", "auth_type", "created_at", "updated_at")
    perm_model = ("directory", "connection")
    operation_prefix = "connections"
    update_service = services.connection_update
    delete_service = services.connection_delete
    instance_kwarg = "connection"

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = {k: v for k, v in serializer.validated_data.items() if v is not None}
        connection = services.connection_create(actor=api_actor(self.request), **data)
        serializer.instance = _reread(self, connection)


# --- roles and the event log ---------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="List admin roles"),
    create=extend_schema(summary="Create a custom role, starting from a built-in role's permissions"),
    retrieve=extend_schema(summary="Get an admin role"),
)
class RoleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, KeyflowGenericViewSet):
    """Admin roles: the built-in set and custom roles (scoped further in the Django admin)."""

    queryset = AdminRole.objects.select_related("group").prefetch_related("group__permissions__content_type")
    serializer_class = serializers.RoleSerializer
    filterset_class = filters.RoleFilter
    ordering_fields = ("group__name", "key", "created_at")
    perm_model = ("directory", "adminrole")
    operation_prefix = "roles"

    def get_serializer(self, *args: Any, **kwargs: Any) -> BaseSerializer:
        serializer = super().get_serializer(*args, **kwargs)
        if self.action == "create":
            serializer.fields["based_on"].queryset = AdminRole.objects.filter(is_builtin=True)
        return serializer

    def perform_create(self, serializer: BaseSerializer) -> None:
        data = serializer.validated_data
        role = role_services.role_create(
            name=data["name"],
            based_on=data.get("based_on"),
            description=data.get("description", ""),
            actor=api_actor(self.request),
        )
        serializer.instance = _reread(self, role)


@extend_schema_view(
    list=extend_schema(summary="List directory events (newest first)"),
    retrieve=extend_schema(summary="Get a directory event"),
)
class DirectoryEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, KeyflowGenericViewSet):
    """The directory event log, read-only: filter by type, resource, actor and time range."""

    queryset = DirectoryEvent.objects.all()
    serializer_class = serializers.DirectoryEventSerializer
    filterset_class = filters.DirectoryEventFilter
    ordering_fields = ("occurred_at", "id", "type")
    perm_model = ("directory", "directoryevent")
    operation_prefix = "events"
