"""Workflows over REST: CRUD, versions, enable/disable, validate, runs, export/import, purge, catalogue.

Views stay thin: serializers check the request's shape, ``workflows.services`` validate the
definition and the run-as role and write. Only Administrator roles hold the permissions to
change or run workflows (see ``directory.roles``); Read Only and Manager may view them.

Errors (see ``directory.api.errors``): a definition's problems come back under
``errors.definition`` with their DSL paths, a run's input problems under ``errors.input``; a
run the workflow's state forbids (disabled, event-triggered) and an ``Idempotency-Key``
reused with different input are 409s.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.serializers import BaseSerializer

from directory.api.base import KeyflowAPIView, KeyflowModelViewSet
from directory.api.errors import Conflict, ErrorSerializer, InvalidInput
from executions.api.serializers import RunAcceptedSerializer, run_accepted_data
from executions.choices import TriggerKind
from executions.services import IdempotencyConflict
from workflows.actions.registry import all_actions
from workflows.api import serializers
from workflows.api.filters import WorkflowFilter
from workflows.api.permissions import WorkflowPermissionsMixin
from workflows.dsl import load_schema
from workflows.dsl.limits import document_limit_problems
from workflows.models import Workflow
from workflows.operators import all_operators
from workflows.run_as import narrowest_builtin_role
from workflows.services import (
    PurgeRefused,
    WorkflowInvalid,
    workflow_check,
    workflow_create,
    workflow_delete,
    workflow_purge,
    workflow_run,
    workflow_set_enabled,
    workflow_update,
)
from workflows.triggers import event_catalogue, trigger_catalogue

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY_MAX = 255
# Problems whose path names a request field of its own rather than a place in the definition.
_FIELD_PATHS = {"name", "run_as", "description"}

_CONFLICT = OpenApiResponse(ErrorSerializer, description="Conflicts with the workflow's current state.")


def invalid_workflow(exc: WorkflowInvalid, document_field: str = "definition") -> InvalidInput:
    """A service's problems as a 400: ``name``/``run_as`` problems under those fields, the rest
    (DSL paths such as ``do[0].x.call``) as ``{path, message}`` under ``definition``."""
    errors: dict[str, list[Any]] = {}
    for problem in exc.problems:
        if problem.path in _FIELD_PATHS:
            errors.setdefault(problem.path, []).append(problem.message)
        else:
            errors.setdefault(document_field, []).append({"path": problem.path, "message": problem.message})
    return InvalidInput(errors)


def _run_refused(exc: WorkflowInvalid) -> Exception:
    """A refused run: the caller's rights (403), the workflow's state (409) or the input (400, with
    input paths)."""
    role = [p for p in exc.problems if p.path == "run_as"]
    if role:
        return PermissionDenied(" ".join(p.message for p in role))
    state = [p for p in exc.problems if p.path == "workflow"]
    if state:
        return Conflict(" ".join(p.message for p in state), code="not_runnable")
    return InvalidInput.from_problems("input", exc.problems)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get(IDEMPOTENCY_HEADER, "").strip()
    if not key:
        return None
    if len(key) > IDEMPOTENCY_KEY_MAX:
        raise InvalidInput({IDEMPOTENCY_HEADER: [f"At most {IDEMPOTENCY_KEY_MAX} characters."]})
    return key


@extend_schema_view(
    list=extend_schema(summary="List workflows"),
    retrieve=extend_schema(summary="Get a workflow", responses=serializers.WorkflowDetailSerializer),
    create=extend_schema(
        summary="Create a workflow (validated; version 1)",
        request=serializers.WorkflowSerializer,
        responses={201: serializers.WorkflowDetailSerializer},
    ),
    update=extend_schema(
        summary="Replace a workflow (a changed definition becomes a new version)",
        request=serializers.WorkflowSerializer,
        responses=serializers.WorkflowDetailSerializer,
    ),
    partial_update=extend_schema(
        summary="Change some of a workflow's fields",
        request=serializers.WorkflowSerializer,
        responses=serializers.WorkflowDetailSerializer,
    ),
    destroy=extend_schema(
        summary="Delete a workflow (archived: its executions and steps stay readable; purge removes them)"
    ),
)
class WorkflowViewSet(WorkflowPermissionsMixin, KeyflowModelViewSet):
    """Workflows. Writes and runs need an Administrator role's permissions."""

    queryset = Workflow.objects.live().select_related("run_as__group", "current_version")
    serializer_class = serializers.WorkflowSerializer
    filterset_class = WorkflowFilter
    ordering_fields = ("name", "type", "enabled", "created_at", "updated_at")
    perm_model = ("workflows", "workflow")
    operation_prefix = "workflows"
    action_permissions = {
        "versions": ("workflows.view_workflowversion",),
        "enable": ("workflows.change_workflow",),
        "disable": ("workflows.change_workflow",),
        "validate": ("workflows.view_workflow",),
        "runs": ("workflows.run_workflow",),
        "export": ("workflows.view_workflow",),
        "import_workflow": ("workflows.add_workflow",),
        "purge": ("workflows.delete_workflow",),
    }

    def get_queryset(self) -> QuerySet[Workflow]:
        """Live workflows; a purge looks among the deleted (archived) ones too, the only ones it may remove."""
        if self.action == "purge":
            return Workflow.objects.all()
        return super().get_queryset()

    def get_serializer_class(self) -> type[BaseSerializer]:
        if self.action in {"retrieve", "create", "update", "partial_update"}:
            return serializers.WorkflowDetailSerializer
        return serializers.WorkflowSerializer

    def _detail(self, workflow: Workflow, code: int = status.HTTP_200_OK) -> Response:
        workflow = self.get_queryset().get(pk=workflow.pk)
        return Response(serializers.WorkflowDetailSerializer(workflow).data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = serializers.WorkflowSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        return self._create(
            request,
            name=data["name"],
            description=data.get("description", ""),
            definition=data["definition"],
            run_as=data["run_as"],
            enabled=data.get("enabled", True),
        )

    def _create(self, request: Request, **fields: Any) -> Response:
        """Create through the service (create and import): its problems as a 400, else a 201 detail."""
        try:
            workflow = workflow_create(actor=request.user, **fields)
        except WorkflowInvalid as exc:
            raise invalid_workflow(exc) from exc
        return self._detail(workflow, status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        workflow = self.get_object()
        partial = kwargs.get("partial", False)
        body = serializers.WorkflowSerializer(workflow, data=request.data, partial=partial)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        enabled = data.pop("enabled", None)
        try:
            with transaction.atomic():
                workflow = workflow_update(workflow=workflow, actor=request.user, **data)
                if enabled is not None:
                    workflow = workflow_set_enabled(workflow=workflow, enabled=enabled, actor=request.user)
        except WorkflowInvalid as exc:
            raise invalid_workflow(exc) from exc
        return self._detail(workflow)

    def perform_destroy(self, instance: Workflow) -> None:
        workflow_delete(workflow=instance, actor=self.request.user)

    @extend_schema(
        operation_id="workflows_purge",
        summary="Purge a deleted workflow's history for good",
        description=(
            "Removes a deleted (archived) workflow with its executions, step records and versions; "
            "this cannot be undone. Administrator roles only. A workflow not deleted first is a 409 "
            "(`not_archived`): delete it (`DELETE /api/v1/workflows/{id}/`), then purge."
        ),
        request=None,
        responses={
            200: serializers.PurgeResultSerializer,
            409: OpenApiResponse(ErrorSerializer, description="The workflow is not deleted (archived)."),
        },
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def purge(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        try:
            count = workflow_purge(workflow=workflow, actor=request.user)
        except PurgeRefused as exc:
            raise Conflict(str(exc), code="not_archived") from exc
        result = {"workflow": workflow.pk, "name": workflow.name, "executions_purged": count}
        return Response(serializers.PurgeResultSerializer(result).data)

    @extend_schema(
        operation_id="workflows_versions",
        summary="List a workflow's saved versions (newest first)",
        responses=serializers.WorkflowVersionSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        page = self.paginate_queryset(workflow.versions.select_related("author").order_by("-number"))
        return self.get_paginated_response(serializers.WorkflowVersionSerializer(page, many=True).data)

    def _set_enabled(self, enabled: bool) -> Response:
        try:
            workflow = workflow_set_enabled(workflow=self.get_object(), enabled=enabled, actor=self.request.user)
        except WorkflowInvalid as exc:  # the run-as role holds permissions the caller lacks
            raise PermissionDenied(" ".join(p.message for p in exc.problems)) from exc
        return Response(serializers.WorkflowSerializer(self.get_queryset().get(pk=workflow.pk)).data)

    @extend_schema(
        operation_id="workflows_enable",
        summary="Enable a workflow (events that happened while it was disabled are not replayed)",
        request=None,
        responses=serializers.WorkflowSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def enable(self, request: Request, pk: str | None = None) -> Response:
        return self._set_enabled(True)

    @extend_schema(
        operation_id="workflows_disable",
        summary="Disable a workflow",
        request=None,
        responses=serializers.WorkflowSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def disable(self, request: Request, pk: str | None = None) -> Response:
        return self._set_enabled(False)

    @extend_schema(
        operation_id="workflows_validate",
        summary="Check a definition and run-as role without saving",
        description=(
            "Returns every problem with its path — the same check saving does — plus the narrowest "
            "built-in role that covers the workflow's actions and warnings about the chosen role. "
            "A definition with problems is still a 200: `valid` is false. A definition past the size "
            "limits (bytes, nesting, tasks: see `x-keyflow-limits` in the DSL schema) is a 400."
        ),
        request=serializers.ValidateInputSerializer,
        responses=serializers.ValidationResultSerializer,
    )
    @action(detail=False, methods=["post"], filter_backends=[])
    def validate(self, request: Request) -> Response:
        body = serializers.ValidateInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        definition = body.validated_data["definition"]
        too_big = document_limit_problems(definition)
        if too_big:  # refused outright, as saving would: nothing else is checked
            raise InvalidInput.from_problems("definition", too_big)
        role = body.validated_data.get("run_as")
        problems, report = workflow_check(definition=definition, run_as=role)
        if role is None:
            problems = [p for p in problems if p.path != "run_as"]
        narrowest = report.narrowest_role if report is not None else None
        if report is None and not problems:
            narrowest = narrowest_builtin_role(definition)
        result = {
            "valid": not problems,
            "problems": [{"path": p.path, "message": p.message} for p in problems],
            "narrowest_role": narrowest,
            "warnings": report.warnings if report is not None else [],
        }
        return Response(serializers.ValidationResultSerializer(result).data)

    @extend_schema(
        operation_id="workflows_run",
        summary="Run a manual or scheduled workflow now with input JSON",
        description=(
            "Queues an execution and returns it (202). With an `Idempotency-Key` header, repeating "
            "the request returns the same execution (202 again); the same key with different input is "
            "a 409. Input problems come back under `errors.input` with their paths."
        ),
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                required=False,
                description=f"Any string of at most {IDEMPOTENCY_KEY_MAX} characters, unique per intended run.",
            )
        ],
        request=serializers.RunInputSerializer,
        responses={202: RunAcceptedSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def runs(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        body = serializers.RunInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        key = _idempotency_key(request)
        try:
            execution = workflow_run(
                workflow=workflow,
                input=body.validated_data["input"],
                actor=request.user,
                trigger_kind=TriggerKind.API,
                idempotency_key=key,
            )
        except WorkflowInvalid as exc:
            raise _run_refused(exc) from exc
        except IdempotencyConflict as exc:
            raise Conflict(str(exc), code="idempotency_conflict") from exc
        return Response(run_accepted_data(execution), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="workflows_export",
        summary="Export a workflow as a portable document",
        responses=serializers.WorkflowExportSerializer,
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def export(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        return Response(serializers.WorkflowExportSerializer(serializers.WorkflowExportSerializer.of(workflow)).data)

    @extend_schema(
        operation_id="workflows_import",
        summary="Create a workflow from an exported document (disabled unless `enabled` is true)",
        request=serializers.WorkflowExportSerializer,
        responses={201: serializers.WorkflowDetailSerializer},
    )
    @action(detail=False, methods=["post"], url_path="import", filter_backends=[])
    def import_workflow(self, request: Request) -> Response:
        body = serializers.WorkflowExportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        fields = ("name", "description", "definition", "run_as", "enabled")
        return self._create(request, **{name: data[name] for name in fields})


# --- the catalogue ----------------------------------------------------------------------------------------


class _CatalogueView(KeyflowAPIView):
    """The building blocks of workflows: visible to whoever may view workflows. Each is a short,
    fixed list, returned whole (no pagination, no filters)."""

    perm_model = ("workflows", "workflow")
    pagination_class = None
    filter_backends: list[Any] = []


class ActionCatalogueView(_CatalogueView):
    @extend_schema(
        operation_id="catalog_actions",
        summary="Actions a call task can run",
        responses=serializers.ActionTypeSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        entries = [action_type.describe() for action_type in all_actions()]
        return Response(serializers.ActionTypeSerializer(entries, many=True).data)


class TriggerCatalogueView(_CatalogueView):
    @extend_schema(
        operation_id="catalog_triggers",
        summary="Kinds of trigger, with an example and their part of the DSL schema",
        responses=serializers.TriggerTypeSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(serializers.TriggerTypeSerializer(trigger_catalogue(), many=True).data)


class EventCatalogueView(_CatalogueView):
    @extend_schema(
        operation_id="catalog_events",
        summary="Directory event types an event workflow can start on, with the fields each event carries",
        responses=serializers.EventTypeSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(serializers.EventTypeSerializer(event_catalogue(), many=True).data)


class OperatorCatalogueView(_CatalogueView):
    @extend_schema(
        operation_id="catalog_operators",
        summary="Operators of structured conditions",
        responses=serializers.OperatorSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        entries = [operator.describe() for operator in all_operators()]
        return Response(serializers.OperatorSerializer(entries, many=True).data)


class DSLSchemaView(_CatalogueView):
    @extend_schema(
        operation_id="dsl_schema",
        summary="The JSON Schema (draft 2020-12) of workflow definitions",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        return Response(load_schema())
