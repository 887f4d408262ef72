"""Executions and their steps as the API shows them (read-only: executions are started by
triggers and runs, and changed only by cancelling)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from executions.models import Execution, StepRun
from executions.recording import redact


@extend_schema_field({"description": "Any JSON value (rendered params, outputs may be objects, lists or null)."})
class AnyJSONField(serializers.JSONField):
    """A step's rendered input or output: whatever JSON the action took or gave."""


class StepRunSerializer(serializers.ModelSerializer):
    """One step of an execution, in run order (``sequence``)."""

    input = AnyJSONField(read_only=True, allow_null=True, help_text="Rendered params, secrets redacted.")
    output = AnyJSONField(
        read_only=True, allow_null=True, help_text="The action's output (see output_truncated), secrets redacted."
    )

    def to_representation(self, instance: StepRun) -> dict:
        """Inputs are stored redacted; outputs are stored whole (later steps read them) and shown
        redacted, under the same rule."""
        data = super().to_representation(instance)
        data["input"] = redact(data.get("input"))
        data["output"] = redact(data.get("output"))
        return data

    class Meta:
        model = StepRun
        fields = (
            "sequence",
            "name",
            "path",
            "task_type",
            "action",
            "status",
            "skip_reason",
            "input",
            "output",
            "output_truncated",
            "error",
            "attempts",
            "loop_index",
            "started_at",
            "finished_at",
        )
        read_only_fields = fields


class ExecutionSerializer(serializers.ModelSerializer):
    """One run of a workflow version."""

    workflow_name = serializers.CharField(source="workflow.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    started_by = serializers.CharField(source="started_by.get_username", read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    input = AnyJSONField(read_only=True)

    def to_representation(self, instance: Execution) -> dict:
        """Run input is stored as given (the runner needs it) but shown with secret-looking keys
        redacted, as step inputs are: Read Only and Manager admins can read execution history."""
        data = super().to_representation(instance)
        data["input"] = redact(data.get("input"))
        return data

    class Meta:
        model = Execution
        fields = (
            "id",
            "workflow",
            "workflow_name",
            "version",
            "trigger_kind",
            "event",
            "slot_at",
            "idempotency_key",
            "input",
            "status",
            "error",
            "depth",
            "started_by",
            "cancel_requested",
            "run_count",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        )
        read_only_fields = fields


class ExecutionDetailSerializer(ExecutionSerializer):
    """An execution with its steps in the order they ran."""

    steps = StepRunSerializer(many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = (*ExecutionSerializer.Meta.fields, "steps")
        read_only_fields = fields
