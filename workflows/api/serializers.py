"""Workflows as the API shows and accepts them, plus the catalogue the builder is made of.

The definition is the DSL document itself (``GET /api/v1/dsl/schema/`` publishes its JSON
Schema). Serializers check only the request's outer shape; the definition and the run-as
role are checked by ``workflows.services`` — the one validator the builder, the admin and
import also use — and its problems come back with their DSL paths.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from directory.api.errors import ProblemSerializer
from directory.api.serializers import JSONObjectField, RoleRefSerializer
from directory.models import AdminRole
from workflows.models import Workflow, WorkflowVersion
from workflows.run_as import check_run_as
from workflows.schedules import next_run_times

__all__ = [
    "EXPORT_FORMAT",
    "ActionTypeSerializer",
    "EventTypeSerializer",
    "OperatorSerializer",
    "RunAsCheckSerializer",
    "RunInputSerializer",
    "TriggerTypeSerializer",
    "ValidateInputSerializer",
    "ValidationResultSerializer",
    "WorkflowDetailSerializer",
    "WorkflowExportSerializer",
    "WorkflowSerializer",
    "WorkflowVersionSerializer",
]

EXPORT_FORMAT = "1.0"

_DEFINITION_HELP = "The workflow document (DSL 1.0); its JSON Schema is at /api/v1/dsl/schema/."


@extend_schema_field({"type": "object", "additionalProperties": True, "description": _DEFINITION_HELP})
class DefinitionField(serializers.JSONField):
    """The DSL document: any JSON here; the workflow validator says what is wrong with it, by path."""


class WorkflowSerializer(serializers.ModelSerializer):
    """A workflow. ``type`` follows the trigger; ``version`` is the current version's number."""

    definition = DefinitionField(help_text=_DEFINITION_HELP)
    run_as = serializers.PrimaryKeyRelatedField(
        queryset=AdminRole.objects.select_related("group"), help_text="Id of the role the workflow runs as."
    )
    run_as_name = serializers.CharField(source="run_as.name", read_only=True)
    version = serializers.IntegerField(source="current_version.number", read_only=True, allow_null=True)
    next_run_at = serializers.SerializerMethodField(help_text="Next scheduled run (enabled schedule workflows).")

    class Meta:
        model = Workflow
        fields = (
            "id",
            "name",
            "description",
            "type",
            "enabled",
            "run_as",
            "run_as_name",
            "definition",
            "version",
            "trigger_event",
            "created_at",
            "updated_at",
            "next_run_at",
        )
        read_only_fields = ("type", "trigger_event", "created_at", "updated_at")

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_run_at(self, workflow: Workflow) -> str | None:
        upcoming = next_run_times(workflow, 1)
        return serializers.DateTimeField().to_representation(upcoming[0]) if upcoming else None


class RunAsCheckSerializer(serializers.Serializer):
    """What saving learned about the run-as role (see issue 5): the narrowest built-in role that
    covers every action, and a warning when the chosen role is broader than needed."""

    narrowest_role = RoleRefSerializer(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())


class WorkflowDetailSerializer(WorkflowSerializer):
    """A workflow with the run-as check, as returned by retrieve, create, update and import."""

    run_as_check = serializers.SerializerMethodField()

    class Meta(WorkflowSerializer.Meta):
        fields = (*WorkflowSerializer.Meta.fields, "run_as_check")

    @extend_schema_field(RunAsCheckSerializer)
    def get_run_as_check(self, workflow: Workflow) -> dict[str, Any]:
        report = check_run_as(workflow.definition, workflow.run_as)
        return RunAsCheckSerializer({"narrowest_role": report.narrowest_role, "warnings": report.warnings}).data


class WorkflowVersionSerializer(serializers.ModelSerializer):
    """One saved definition of a workflow; executions pin the version they ran."""

    definition = DefinitionField(read_only=True)
    author = serializers.CharField(source="author.get_username", read_only=True, allow_null=True)

    class Meta:
        model = WorkflowVersion
        fields = ("id", "number", "definition", "author", "created_at")
        read_only_fields = fields


class PurgeResultSerializer(serializers.Serializer):
    """What a purge removed: the deleted workflow (gone now) and how many executions went with it."""

    workflow = serializers.IntegerField(help_text="Id of the purged workflow (it no longer exists).")
    name = serializers.CharField(help_text="Its name, for the caller's log.")
    executions_purged = serializers.IntegerField(help_text="Executions removed, with their step records.")


class ValidateInputSerializer(serializers.Serializer):
    """A definition to check, and the role it would run as."""

    definition = DefinitionField()
    run_as = serializers.PrimaryKeyRelatedField(
        queryset=AdminRole.objects.select_related("group"),
        required=False,
        allow_null=True,
        help_text="Id of the run-as role; without it, the role's coverage is not checked.",
    )


class ValidationResultSerializer(serializers.Serializer):
    """Every problem with its path (an empty list: the workflow can be saved), the narrowest
    built-in role that covers the workflow's actions, and warnings about the chosen role."""

    valid = serializers.BooleanField()
    problems = ProblemSerializer(many=True)
    narrowest_role = RoleRefSerializer(allow_null=True)
    warnings = serializers.ListField(child=serializers.CharField())


class RunInputSerializer(serializers.Serializer):
    """A manual run's input, checked against the workflow's input schema."""

    input = JSONObjectField(required=False, default=dict, help_text="Input JSON for the workflow.")


class WorkflowExportSerializer(serializers.Serializer):
    """A workflow as a portable document: the DSL plus name, description and run-as by role name.

    Import takes the same document; ``enabled`` defaults to false on import, so an imported
    workflow starts nothing until someone enables it.
    """

    keyflow_export = serializers.ChoiceField(
        choices=[EXPORT_FORMAT], default=EXPORT_FORMAT, help_text="Format version of this document."
    )
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(allow_blank=True, required=False, default="")
    run_as = serializers.CharField(max_length=150, help_text="The run-as role's name (or key).")
    enabled = serializers.BooleanField(required=False, default=False)
    definition = DefinitionField()

    @staticmethod
    def of(workflow: Workflow) -> dict[str, Any]:
        return {
            "keyflow_export": EXPORT_FORMAT,
            "name": workflow.name,
            "description": workflow.description,
            "run_as": workflow.run_as.name,
            "enabled": workflow.enabled,
            "definition": workflow.definition,
        }

    def validate_run_as(self, value: str) -> AdminRole:
        role = AdminRole.objects.select_related("group").filter(group__name=value).first()
        role = role or AdminRole.objects.select_related("group").filter(key=value).first()
        if role is None:
            raise serializers.ValidationError(f"No role named {value!r}.")
        return role


# --- the catalogue ------------------------------------------------------------------------------------


class ActionTypeSerializer(serializers.Serializer):
    """An action a ``call`` task can run: its params and output schemas and the permissions it needs."""

    key = serializers.CharField()
    label = serializers.CharField()
    category = serializers.CharField()
    description = serializers.CharField()
    params_schema = serializers.DictField(help_text="JSON Schema of the action's params (`with`).")
    output_schema = serializers.DictField(help_text="JSON Schema of the step's output.")
    permissions = serializers.ListField(child=serializers.CharField())
    effect = serializers.ChoiceField(
        choices=["database", "external"],
        help_text="database: runs in a savepoint and rolls back with its step; external: leaves the database "
        "(a message, an HTTP call) and runs with no transaction open.",
    )


class TriggerTypeSerializer(serializers.Serializer):
    """A kind of trigger, an example, and the part of the DSL schema that describes it."""

    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    example = serializers.DictField(help_text="A trigger object of this kind.")
    schema = serializers.DictField(help_text="JSON Schema of the trigger object.")


class EventTypeSerializer(serializers.Serializer):
    """A directory event type an event workflow can start on, and what ``event.`` holds for it."""

    key = serializers.CharField()
    resource_type = serializers.CharField()
    description = serializers.CharField()
    common = serializers.ListField(child=serializers.CharField(), help_text="Names every event has.")
    objects = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Objects under event. (user, group…) and the fields each carries.",
    )


class OperatorSerializer(serializers.Serializer):
    """An operator of structured conditions (``{left, op, right}``)."""

    key = serializers.CharField()
    label = serializers.CharField()
    description = serializers.CharField()
    takes_right = serializers.BooleanField()
