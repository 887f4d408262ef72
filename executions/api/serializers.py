"""Executions and their steps as the API shows them (read-only: executions are started by
triggers and runs, and changed only by cancelling)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from executions.models import Execution, StepRun
from executions.recording import display_output, redact
from executions.services import RERUN_LATEST, RERUN_SAME


@extend_schema_field({"description": "Any JSON value (rendered params, outputs may be objects, lists or null)."})
class AnyJSONField(serializers.JSONField):
    """A step's rendered input or output: whatever JSON the action took or gave."""


class StepRunSerializer(serializers.ModelSerializer):
    """One step of an execution, in run order (``sequence``)."""

    input = AnyJSONField(read_only=True, allow_null=True, help_text="Rendered params, secrets redacted.")
    output = AnyJSONField(
        read_only=True, allow_null=True, help_text="The action's output (a preview when truncated), secrets redacted."
    )
    output_truncated = serializers.BooleanField(
        read_only=True,
        default=False,
        help_text="The output is larger than the display limit; a preview is shown.",
    )

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

    def to_representation(self, instance: StepRun) -> dict:
        """Inputs are stored redacted; outputs are stored whole (a resumed run reads them back) and
        shown redacted under the same rule, as a preview when large."""
        data = super().to_representation(instance)
        data["input"] = redact(data.get("input"))
        data["output"], data["output_truncated"] = display_output(redact(instance.output))
        return data


class ExecutionSerializer(serializers.ModelSerializer):
    """One run of a workflow version."""

    workflow_name = serializers.CharField(source="workflow.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    started_by = serializers.CharField(source="started_by.get_username", read_only=True, allow_null=True)
    cancelled_by = serializers.CharField(source="cancelled_by.get_username", read_only=True, allow_null=True)
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
            "cancelled_by",
            "cancelled_at",
            "rerun_of",
            "run_count",
            "wake_at",
            "queued_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        )
        read_only_fields = fields


class RerunSerializer(serializers.Serializer):
    """Which version a re-run runs."""

    version = serializers.ChoiceField(
        choices=[(RERUN_SAME, "The version the execution ran"), (RERUN_LATEST, "The workflow's current version")],
        default=RERUN_SAME,
    )


class ExecutionDetailSerializer(ExecutionSerializer):
    """An execution with its steps in the order they ran."""

    steps = StepRunSerializer(many=True, read_only=True)

    class Meta(ExecutionSerializer.Meta):
        fields = (*ExecutionSerializer.Meta.fields, "steps")
        read_only_fields = fields


class RunAcceptedSerializer(ExecutionDetailSerializer):
    """The 202 body of a run: the execution as it was queued. A run never claimed by a worker has no
    steps, so none are read for it (a retried call with an idempotency key may return one that ran)."""

    steps = serializers.SerializerMethodField()

    class Meta(ExecutionDetailSerializer.Meta):
        pass

    @extend_schema_field(StepRunSerializer(many=True))
    def get_steps(self, execution: Execution) -> list[dict]:
        if execution.run_count == 0:
            return []
        return StepRunSerializer(execution.steps.all(), many=True).data


_DATETIME = serializers.DateTimeField(read_only=True)


def run_accepted_data(execution: Execution) -> dict[str, Any]:
    """``RunAcceptedSerializer(execution).data`` for the run endpoint's 202, built directly while no
    worker has claimed the run: a ModelSerializer builds its ~25 fields anew for every instance,
    which cost the run endpoint more than its INSERT. ``test_run_accepted`` holds the two equal; a
    run that has run (an idempotent repeat) goes through the serializer."""
    if execution.run_count:
        return RunAcceptedSerializer(execution).data
    when = _DATETIME.to_representation
    return {
        "id": execution.pk,
        "workflow": execution.workflow_id,
        "workflow_name": execution.workflow.name,
        "version": execution.version.number,
        "trigger_kind": str(execution.trigger_kind),
        "event": execution.event_id,
        "slot_at": when(execution.slot_at),
        "idempotency_key": execution.idempotency_key,
        "input": redact(execution.input),
        "status": str(execution.status),
        "error": execution.error,
        "depth": execution.depth,
        "started_by": execution.started_by.get_username() if execution.started_by_id else None,
        "cancel_requested": execution.cancel_requested,
        "cancelled_by": execution.cancelled_by.get_username() if execution.cancelled_by_id else None,
        "cancelled_at": when(execution.cancelled_at),
        "rerun_of": execution.rerun_of_id,
        "run_count": execution.run_count,
        "wake_at": when(execution.wake_at),
        "queued_at": when(execution.queued_at),
        "started_at": when(execution.started_at),
        "finished_at": when(execution.finished_at),
        "duration_seconds": execution.duration_seconds,
        "steps": [],
    }
