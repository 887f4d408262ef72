"""Execution history over REST: list with filters, one execution with its steps, cancel.

Viewing needs ``executions.view_execution`` (Administrators, Manager, Read Only); cancelling
needs ``executions.cancel_execution`` (Administrators only).
"""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from directory.api.base import KeyflowGenericViewSet
from directory.api.errors import Conflict, ErrorSerializer
from executions.api.filters import ExecutionFilter
from executions.api.serializers import ExecutionDetailSerializer, ExecutionSerializer
from executions.choices import ExecutionStatus
from executions.models import Execution, StepRun
from executions.services import execution_cancel
from workflows.api.permissions import WorkflowPermissionsMixin


@extend_schema_view(
    list=extend_schema(summary="List executions (newest first)"),
    retrieve=extend_schema(summary="Get an execution with its steps in run order"),
)
class ExecutionViewSet(
    WorkflowPermissionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, KeyflowGenericViewSet
):
    """Executions of workflows, newest first."""

    queryset = Execution.objects.select_related("workflow", "version", "started_by")
    filterset_class = ExecutionFilter
    ordering_fields = ("queued_at", "started_at", "finished_at", "status", "id")
    perm_model = ("executions", "execution")
    operation_prefix = "executions"
    action_permissions = {"cancel": ("executions.cancel_execution",)}

    def get_queryset(self) -> QuerySet[Execution]:
        queryset = super().get_queryset()
        if self.action != "list":
            queryset = queryset.prefetch_related(Prefetch("steps", queryset=StepRun.objects.order_by("sequence")))
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer]:
        return ExecutionSerializer if self.action == "list" else ExecutionDetailSerializer

    @extend_schema(
        operation_id="executions_cancel",
        summary="Cancel an execution",
        description=(
            "A queued execution is cancelled at once; a running one stops before its next step "
            "(`cancel_requested` is true until it does). A finished execution is a 409."
        ),
        request=None,
        responses={
            200: ExecutionDetailSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The execution has already finished."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        execution = self.get_object()
        if execution.status in ExecutionStatus.finished():
            raise Conflict(f"Execution {execution.pk} has already finished ({execution.status}).", code="finished")
        execution = execution_cancel(execution=execution, actor=request.user)
        return Response(ExecutionDetailSerializer(self.get_queryset().get(pk=execution.pk)).data)
