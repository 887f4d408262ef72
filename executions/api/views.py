"""Execution history over REST: list with filters, one execution with its steps, cancel, re-run,
and exports (an execution as JSON, the filtered history as CSV).

Viewing needs ``executions.view_execution`` (Administrators, Manager, Read Only) and the steps
``executions.view_steprun`` too — the rule of the pages and the admin; cancelling needs
``executions.cancel_execution`` and re-running ``workflows.run_workflow`` (Administrators only).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from django.db.models import Prefetch, QuerySet
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from directory.api.base import KeyflowGenericViewSet
from directory.api.errors import Conflict, ErrorSerializer
from executions.api.filters import ExecutionFilter
from executions.api.pagination import ExecutionCursorPagination
from executions.api.serializers import ExecutionDetailSerializer, ExecutionSerializer, RerunSerializer
from executions.choices import ExecutionStatus
from executions.exports import CSV_HEADER, csv_row, execution_document
from executions.models import Execution, StepRun
from executions.selectors import caused_events, steps_of, with_step_counts
from executions.services import RerunRefused, execution_cancel, execution_rerun
from workflows.api.permissions import WorkflowPermissionsMixin


@extend_schema_view(
    list=extend_schema(
        summary="List executions (newest first, keyset pages)",
        description=(
            "Pages follow the `next` and `previous` links (`?cursor=`): a deep page costs what the first "
            "does, and rows queued meanwhile neither repeat nor vanish between pages. No total `count`: "
            "counting a long filtered history would cost more than the page."
        ),
    ),
    retrieve=extend_schema(summary="Get an execution with its steps in run order"),
)
class ExecutionViewSet(
    WorkflowPermissionsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, KeyflowGenericViewSet
):
    """Executions of workflows, newest first."""

    queryset = Execution.objects.select_related("workflow", "version", "started_by", "cancelled_by", "event")
    filterset_class = ExecutionFilter
    # Keyset pages need a key that never changes and is (nearly) unique: newest first by default,
    # ``?ordering=queued_at`` (oldest first) or by id. Nullable or shared fields cannot be a cursor.
    ordering_fields = ("queued_at", "id")
    pagination_class = ExecutionCursorPagination
    perm_model = ("executions", "execution")
    operation_prefix = "executions"
    action_permissions = {
        "cancel": ("executions.cancel_execution",),
        "rerun": ("workflows.run_workflow",),
        "export": ("executions.view_execution",),
        "export_csv": ("executions.view_execution",),
    }

    def _see_steps(self) -> bool:
        return self.request.user.has_perm("executions.view_steprun")

    def get_queryset(self) -> QuerySet[Execution]:
        queryset = super().get_queryset()
        if self.action not in ("list", "export_csv") and self._see_steps():
            queryset = queryset.prefetch_related(Prefetch("steps", queryset=StepRun.objects.order_by("sequence")))
        return queryset

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action == "list" or not self._see_steps():
            return ExecutionSerializer  # without ``steps``: the caller's role does not see step records
        return ExecutionDetailSerializer

    @extend_schema(
        operation_id="executions_export",
        summary="Export an execution as a JSON document",
        description=(
            "The execution, the workflow version it ran (its definition), its steps (when your role sees "
            "step records) and the directory events it caused; inputs and outputs redacted."
        ),
        responses={(200, "application/json"): OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def export(self, request: Request, pk: str | None = None) -> Response:
        execution = self.get_object()
        steps = steps_of(execution) if self._see_steps() else None
        response = Response(execution_document(execution, steps, caused_events(execution)))
        response["Content-Disposition"] = f'attachment; filename="keyflow-execution-{execution.pk}.json"'
        return response

    @extend_schema(
        operation_id="executions_export_csv",
        summary="Export the filtered history as CSV (newest first)",
        description="Takes the list's filters. Streamed: any number of rows.",
        responses={(200, "text/csv"): OpenApiTypes.STR},
    )
    @action(detail=False, methods=["get"], url_path="export-csv", pagination_class=None)
    def export_csv(self, request: Request) -> StreamingHttpResponse:
        rows = with_step_counts(self.filter_queryset(self.get_queryset())).order_by("-queued_at", "-id")

        def lines() -> Iterator[str]:
            out = _Line()
            writer = csv.writer(out)
            yield writer.writerow(CSV_HEADER)
            for execution in rows.iterator(chunk_size=1000):
                yield writer.writerow(csv_row(execution))

        response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="keyflow-executions.csv"'
        return response

    @extend_schema(
        operation_id="executions_rerun",
        summary="Run a finished execution again with the same input",
        description=(
            "`version`: `same` (the version it ran, the default) or `latest` (the workflow's current one). "
            "The new execution links back (`rerun_of`) and is started by you. An unfinished execution, or "
            "one of a deleted workflow, is a 409."
        ),
        request=RerunSerializer,
        responses={
            201: ExecutionSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Not finished, or its workflow was deleted."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        execution = self.get_object()
        body = RerunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            new = execution_rerun(execution=execution, actor=request.user, version=body.validated_data["version"])
        except RerunRefused as exc:
            raise Conflict(str(exc), code="not_rerunnable") from exc
        return Response(ExecutionSerializer(self.get_queryset().get(pk=new.pk)).data, status=201)

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
        serializer = self.get_serializer_class()
        return Response(serializer(self.get_queryset().get(pk=execution.pk)).data)


class _Line:
    """A file-like object whose ``write`` returns the line, for streaming ``csv.writer`` output."""

    def write(self, value: str) -> str:
        return value
