"""Exports of the history: one execution as a JSON document, a filtered history as CSV rows.

Both show what the pages show: inputs and outputs redacted by the one rule
(``directory.redaction``), so an export is no way around it.
"""

from __future__ import annotations

from typing import Any

from directory.models import DirectoryEvent
from executions.models import Execution, StepRun
from executions.recording import redact
from executions.selectors import trigger_text

__all__ = ["CSV_HEADER", "csv_row", "execution_document"]

CSV_HEADER = (
    "id",
    "workflow",
    "version",
    "status",
    "trigger_kind",
    "trigger",
    "queued_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "steps_done",
    "steps_total",
    "error",
)


def _when(value: Any) -> str:
    return value.isoformat() if value else ""


def csv_row(execution: Execution) -> list[Any]:
    """One history row; formula-leading text is quoted so a spreadsheet never evaluates it."""
    duration = execution.duration_seconds
    row = [
        execution.pk,
        execution.workflow.name,
        execution.version.number if execution.version_id else "",
        execution.status,
        execution.trigger_kind,
        trigger_text(execution),
        _when(execution.queued_at),
        _when(execution.started_at),
        _when(execution.finished_at),
        f"{duration:.3f}" if duration is not None else "",
        getattr(execution, "steps_done", ""),
        getattr(execution, "steps_total", ""),
        execution.error,
    ]
    return [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r") else v for v in row]


def _step(step: StepRun) -> dict[str, Any]:
    return {
        "sequence": step.sequence,
        "name": step.name,
        "path": step.path,
        "task_type": step.task_type,
        "action": step.action,
        "status": step.status,
        "skip_reason": step.skip_reason,
        "input": redact(step.input),
        "output": redact(step.output),
        "error": step.error,
        "attempts": step.attempts,
        "attempt_log": step.attempt_log,
        "loop_index": step.loop_index,
        "started_at": _when(step.started_at),
        "finished_at": _when(step.finished_at),
    }


def execution_document(
    execution: Execution, steps: list[StepRun] | None, caused: list[DirectoryEvent]
) -> dict[str, Any]:
    """The execution, the version it ran, its steps (None: the caller may not see them) and the
    directory events it caused."""
    event = execution.event
    document: dict[str, Any] = {
        "id": execution.pk,
        "workflow": {"id": execution.workflow_id, "name": execution.workflow.name},
        "version": {"number": execution.version.number, "definition": execution.version.definition},
        "status": execution.status,
        "error": execution.error,
        "trigger_kind": execution.trigger_kind,
        "trigger": trigger_text(execution),
        "input": redact(execution.input),
        "event": (
            {
                "id": event.pk,
                "type": event.type,
                "resource_type": event.resource_type,
                "resource_id": event.resource_id,
                "resource_name": event.resource_name,
                "changes": redact(event.changes),
            }
            if event is not None
            else None
        ),
        "slot_at": _when(execution.slot_at),
        "started_by": execution.started_by.get_username() if execution.started_by_id else None,
        "cancelled_by": execution.cancelled_by.get_username() if execution.cancelled_by_id else None,
        "cancelled_at": _when(execution.cancelled_at),
        "rerun_of": execution.rerun_of_id,
        "queued_at": _when(execution.queued_at),
        "started_at": _when(execution.started_at),
        "finished_at": _when(execution.finished_at),
        "caused_events": [
            {"id": e.pk, "type": e.type, "resource_type": e.resource_type, "resource_name": e.resource_name}
            for e in caused
        ],
    }
    if steps is not None:
        document["steps"] = [_step(step) for step in steps]
    return document
