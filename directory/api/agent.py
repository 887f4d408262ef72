"""The device agent API: enrol, fetch due commands, report results.

Agents authenticate with ``Authorization: Agent <token>`` and nothing else: these endpoints accept
no admin token or session, and admin endpoints accept no agent token (their authentication
classes do not know the ``Agent`` keyword). An agent token belongs to one device, and the agent
sees and reports only that device's command runs; another device's run is simply not found.

Enrolment: an admin creates a one-use enrolment token for a device (``POST
/api/v1/devices/{id}/agent-token/``, or the device admin's action); the agent sends it once to
``POST /api/v1/agent/enrol/`` and receives its own agent token, which no person sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import authentication, exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from directory import services
from directory.actors import Actor
from directory.api.base import KeyflowAPIView
from directory.api.errors import Conflict, ErrorSerializer
from directory.choices import AgentTokenKind, CommandRunStatus
from directory.models import AgentToken, CommandRun
from directory.selectors import agent_token_for

# How often the reference agent polls unless told otherwise (seconds).
POLL_INTERVAL_SECONDS = 30
# Command runs handed to an agent per poll.
CLAIM_BATCH = 10


@dataclass(frozen=True)
class DeviceAgent:
    """``request.user`` on agent endpoints: a device's agent, which holds no admin permission."""

    token: AgentToken
    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False

    @property
    def device(self) -> Any:
        return self.token.device

    def has_perm(self, perm: str, obj: Any = None) -> bool:
        return False

    def get_username(self) -> str:
        return f"agent:{self.token.device.hostname}"


class AgentTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Agent <agent token>``; any other scheme is not this class's business."""

    keyword = "Agent"
    kind = AgentTokenKind.AGENT

    def authenticate(self, request: Request) -> tuple[DeviceAgent, AgentToken] | None:
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Give the header as 'Authorization: Agent <token>'.")
        try:
            secret = parts[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid agent token.") from None
        token = agent_token_for(secret, kinds=[self.kind])
        if token is None:
            raise exceptions.AuthenticationFailed(f"Invalid {self.noun}.")
        refusal = self.refusal(token)
        if refusal:
            raise exceptions.AuthenticationFailed(refusal)
        return DeviceAgent(token), token

    noun = "agent token"

    def refusal(self, token: AgentToken) -> str:
        if token.revoked_at is not None:
            return f"This {self.noun} was revoked."
        if not token.device.active:
            return f"Device {token.device.hostname} is not active."
        return ""

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class EnrolmentTokenAuthentication(AgentTokenAuthentication):
    """``Authorization: Agent <enrolment token>``, accepted by the enrolment endpoint only."""

    kind = AgentTokenKind.ENROLMENT
    noun = "enrolment token"

    def refusal(self, token: AgentToken) -> str:
        if token.used_at is not None:
            return "This enrolment token was already used; create a new one for the device."
        if token.expires_at is not None and token.expires_at <= timezone.now():
            return "This enrolment token has expired; create a new one for the device."
        return super().refusal(token)


class AgentAuthScheme(OpenApiAuthenticationExtension):
    """The ``Agent`` scheme in the OpenAPI schema."""

    target_class = "directory.api.agent.AgentTokenAuthentication"
    name = "agentAuth"
    match_subclasses = True

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Agent <token>`: a device agent's token (or, to enrol, its enrolment token).",
        }


class IsDeviceAgent(permissions.BasePermission):
    """The caller authenticated with the kind of token the view takes."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, AgentToken) and request.auth.kind == view.token_kind


class _AgentView(KeyflowAPIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsDeviceAgent]
    filter_backends: list[Any] = []
    pagination_class = None
    token_kind = AgentTokenKind.AGENT

    def contact(self, request: Request, agent_version: str = "") -> None:
        services.device_record_contact(device=request.auth.device, token=request.auth, agent_version=agent_version)


# --- serializers ---------------------------------------------------------------------------------


class AgentEnrolSerializer(serializers.Serializer):
    """What the agent says about itself when it enrols."""

    agent_version = serializers.CharField(required=False, allow_blank=True, max_length=32, default="")
    os_version = serializers.CharField(required=False, allow_blank=True, max_length=64, default="")


class DeviceRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hostname = serializers.CharField()


class AgentEnrolledSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The agent's own token: keep it secret; it is not shown again.")
    device = DeviceRefSerializer(help_text="The device enrolled.")
    poll_interval = serializers.IntegerField(help_text="Seconds between polls.")


class AgentCommandSerializer(serializers.ModelSerializer):
    """A command run handed to the agent: what to run, in which shell, for how long at most."""

    command = serializers.CharField(source="command.name")
    shell = serializers.CharField(source="command.shell")
    script = serializers.CharField(source="command.script")
    timeout_seconds = serializers.IntegerField(source="command.timeout_seconds")

    class Meta:
        model = CommandRun
        fields = ("id", "command", "shell", "script", "timeout_seconds", "requested_at")
        read_only_fields = fields


@extend_schema_field({"type": "string", "enum": sorted(CommandRunStatus.finished())})
class FinishedStatusField(serializers.ChoiceField):
    """A finished status (its own inline enum: ``status`` fields elsewhere hold other sets)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(choices=sorted(CommandRunStatus.finished()), **kwargs)


class AgentResultSerializer(serializers.Serializer):
    """A command run's result: exit code and output (stdout and stderr together)."""

    exit_code = serializers.IntegerField(allow_null=True, min_value=-(2**31), max_value=2**31 - 1)
    output = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False, default="")
    status = FinishedStatusField(
        required=False,
        help_text="Left out: succeeded for exit code 0, else failed. timed_out: the agent stopped it.",
    )


class AgentResultRecordedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=CommandRunStatus.choices)
    exit_code = serializers.IntegerField(allow_null=True)


# --- views ---------------------------------------------------------------------------------------


class AgentEnrolView(_AgentView):
    """Exchange an enrolment token for the agent's own token."""

    authentication_classes = [EnrolmentTokenAuthentication]
    token_kind = AgentTokenKind.ENROLMENT

    @extend_schema(
        operation_id="agent_enrol",
        summary="Enrol a device's agent: exchange the one-use enrolment token for the agent's token",
        request=AgentEnrolSerializer,
        responses={201: AgentEnrolledSerializer},
        auth=[{"agentAuth": []}],
    )
    def post(self, request: Request) -> Response:
        body = AgentEnrolSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            row, token = services.agent_enrol(enrolment=request.auth, **body.validated_data)
        except ValidationError as exc:  # used by a concurrent request a moment ago
            raise exceptions.AuthenticationFailed("This enrolment token was already used or revoked.") from exc
        device = row.device
        data = {"token": token, "device": {"id": device.pk, "hostname": device.hostname}}
        return Response({**data, "poll_interval": POLL_INTERVAL_SECONDS}, status=status.HTTP_201_CREATED)


class AgentCommandsView(_AgentView):
    """The device's due commands, each marked running as it is handed out."""

    @extend_schema(
        operation_id="agent_commands_list",
        summary="Fetch the device's queued commands (they are marked running)",
        responses={200: AgentCommandSerializer(many=True)},
        auth=[{"agentAuth": []}],
    )
    def get(self, request: Request) -> Response:
        self.contact(request, request.headers.get("X-Keyflow-Agent-Version", ""))
        runs = services.command_runs_claim(device=request.auth.device, limit=CLAIM_BATCH)
        return Response(AgentCommandSerializer(runs, many=True).data)


class AgentResultView(_AgentView):
    """Report a command run's result; this finishes the run and writes ``command.finished``."""

    @extend_schema(
        operation_id="agent_commands_result",
        summary="Report the exit code and output of a command run",
        request=AgentResultSerializer,
        responses={
            200: AgentResultRecordedSerializer,
            409: OpenApiResponse(
                ErrorSerializer, description="The run is not running (already reported, or never fetched)."
            ),
        },
        auth=[{"agentAuth": []}],
    )
    def post(self, request: Request, pk: int) -> Response:
        if not 0 < pk < 2**63:
            raise exceptions.NotFound()
        run = CommandRun.objects.filter(pk=pk, device=request.auth.device).first()
        if run is None:
            raise exceptions.NotFound()
        body = AgentResultSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if run.status != CommandRunStatus.RUNNING:
            raise Conflict(f"Command run {run.pk} is {run.status}, not running: nothing to report.")
        self.contact(request)
        try:
            agent = Actor.for_agent(request.auth.device)
            run = services.command_run_finish(run=run, actor=agent, **body.validated_data)
        except ValidationError as exc:  # reported by a concurrent request a moment ago
            raise Conflict(f"Command run {run.pk} has already finished.") from exc
        return Response({"id": run.pk, "status": run.status, "exit_code": run.exit_code})


# --- enrolment tokens, from the admin side (``/api/v1/devices/{id}/agent-token/``) ---------------


class AgentTokenSerializer(serializers.ModelSerializer):
    """An agent or enrolment token as admins see it: never the token itself, only its first characters."""

    active = serializers.BooleanField(source="is_active", read_only=True)

    class Meta:
        model = AgentToken
        fields = (
            "id",
            "kind",
            "prefix",
            "active",
            "created_by",
            "created_at",
            "expires_at",
            "used_at",
            "last_used_at",
            "revoked_at",
        )
        read_only_fields = fields


class DeviceAgentSerializer(serializers.Serializer):
    enrolled = serializers.BooleanField(help_text="An agent holds a token that is not revoked.")
    tokens = AgentTokenSerializer(many=True, help_text="The device's tokens, newest first (revoked ones too).")


class EnrolmentTokenCreatedSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="The one-use enrolment token. Shown only now: hand it to the agent.")
    expires_at = serializers.DateTimeField()
    device = DeviceRefSerializer()
    server = serializers.CharField(help_text="The URL the agent should talk to.")
    enrol_command = serializers.CharField(help_text="How to enrol the reference agent with it.")


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.IntegerField(help_text="How many active tokens were revoked.")
