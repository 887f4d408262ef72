"""Templates over REST: ``GET /api/v1/templates/``, ``GET /api/v1/templates/{key}/`` and
``POST /api/v1/templates/{key}/instantiate/`` (inputs → a new workflow).

Listing follows the view permission of workflows, as the catalogue does; instantiating is creating
a workflow (Administrator roles only). Bad inputs are a 400 with one entry per input at fault
(``inputs.days``), and the workflow's name under ``name``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from directory.api.base import KeyflowAPIView
from directory.api.errors import InvalidInput, ValidationErrorSerializer
from directory.api.serializers import JSONObjectField
from workflows.api.permissions import WorkflowPermissionsMixin
from workflows.api.serializers import WorkflowDetailSerializer
from workflows.api.views import invalid_workflow
from workflows.models import Workflow
from workflows.services import WorkflowInvalid
from workflows.templates_library.library import Template, TemplateInputsInvalid, all_templates, get_template
from workflows.templates_library.services import template_instantiate


class TemplateInputSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The key to give its value under `inputs`.")
    type = serializers.CharField(source="kind.key", help_text="user, group, groups, device_group, channel, days, time…")
    label = serializers.CharField()
    help = serializers.CharField()
    required = serializers.BooleanField(help_text="False when it has a default.")
    default = serializers.JSONField(allow_null=True)
    ref = serializers.CharField(source="kind.ref", help_text="For directory objects: the kind of object named.")


class TemplateSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    category = serializers.CharField(help_text="user-lifecycle, inactive or security.")
    category_label = serializers.CharField()
    description = serializers.CharField()
    trigger_type = serializers.ChoiceField(choices=["manual", "event", "schedule"])
    trigger = serializers.CharField(source="trigger_summary", help_text="What starts it, with the defaults.")
    run_as = serializers.CharField(help_text="Key of the suggested built-in role, the narrowest that covers it.")
    run_as_name = serializers.CharField()
    inputs = TemplateInputSerializer(many=True)


class TemplateDetailSerializer(TemplateSerializer):
    definition = serializers.JSONField(help_text="The DSL document with `${input}` placeholders.")


class InstantiateSerializer(serializers.Serializer):
    inputs = JSONObjectField(required=False, default=dict, help_text="Each input's value, by its name.")
    name = serializers.CharField(
        required=False, max_length=200, help_text="The workflow's name (default: the template's, with the inputs)."
    )
    enabled = serializers.BooleanField(required=False, default=True)


def _template(key: str) -> Template:
    template = get_template(key)
    if template is None:
        raise NotFound(f"There is no template {key!r}.")
    return template


class _TemplateView(WorkflowPermissionsMixin, KeyflowAPIView):
    perm_model = ("workflows", "workflow")
    pagination_class = None
    filter_backends: list[Any] = []


class TemplateListView(_TemplateView):
    @extend_schema(
        operation_id="templates_list",
        summary="Workflow templates: common automations that need only a few inputs",
        responses=TemplateSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        return Response(TemplateSerializer(all_templates(), many=True).data)


class TemplateDetailView(_TemplateView):
    detail = True  # a caller who may not view workflows gets 404, as on other detail URLs

    @extend_schema(
        operation_id="templates_retrieve",
        summary="A template with its inputs and its document",
        responses={200: TemplateDetailSerializer, 404: OpenApiResponse(description="No such template.")},
    )
    def get(self, request: Request, key: str) -> Response:
        return Response(TemplateDetailSerializer(_template(key)).data)


class TemplateInstantiateView(_TemplateView):
    detail = True

    def required_permissions(self, method: str) -> tuple[str, ...]:
        return ("workflows.add_workflow",) if method.upper() == "POST" else super().required_permissions(method)

    @extend_schema(
        operation_id="templates_instantiate",
        summary="Create a workflow from a template (runs as the template's suggested role)",
        description=(
            "Validates every input (errors under `errors` as `inputs.<name>`, and `name`), renders the "
            "template and saves it like any new workflow. Enabled unless `enabled` is false."
        ),
        request=InstantiateSerializer,
        responses={
            201: WorkflowDetailSerializer,
            400: ValidationErrorSerializer,
            404: OpenApiResponse(description="No such template."),
        },
    )
    def post(self, request: Request, key: str) -> Response:
        template = _template(key)
        body = InstantiateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            workflow = template_instantiate(
                template=template,
                inputs=data["inputs"],
                name=data.get("name"),
                enabled=data["enabled"],
                actor=request.user,
            )
        except TemplateInputsInvalid as exc:
            errors = {(name if name == "name" else f"inputs.{name}"): msgs for name, msgs in exc.errors.items()}
            raise InvalidInput(errors) from exc
        except WorkflowInvalid as exc:
            raise invalid_workflow(exc) from exc
        workflow = Workflow.objects.select_related("run_as__group", "current_version").get(pk=workflow.pk)
        return Response(WorkflowDetailSerializer(workflow).data, status=status.HTTP_201_CREATED)
