"""The catalogue of trigger types and event types, for the API and the builder.

Trigger types are registered here with a description and the JSON Schema of their settings
(taken from the published DSL schema, so the two cannot drift); event types come from
``directory.event_types`` with the fields each object in ``event.`` carries, derived from the
same models and builders the runner uses to fill the event context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from directory.event_types import COMMON_CONTEXT, EVENT_TYPES, EventType
from directory.snapshots import tracked_fields
from executions.context import CONTEXT_MODELS, EXTRA_FIELDS


@dataclass(frozen=True)
class TriggerType:
    """How a workflow can start."""

    key: str
    label: str
    description: str
    example: dict[str, Any]


TRIGGER_TYPES: dict[str, TriggerType] = {}


def register(trigger: TriggerType) -> TriggerType:
    if trigger.key in TRIGGER_TYPES:
        raise ValueError(f"Trigger type {trigger.key} is registered twice")
    TRIGGER_TYPES[trigger.key] = trigger
    return trigger


register(
    TriggerType(
        "manual",
        "Manual",
        "Run by an admin from the UI, the shell (run_workflow) or the API, with input JSON checked against "
        "the workflow's input schema.",
        {"type": "manual"},
    )
)
register(
    TriggerType(
        "event",
        "Directory event",
        "Runs once for every committed directory event of the given type whose optional `when` condition holds.",
        {"type": "event", "event": "user.created", "when": "{{ event.user.department == 'Engineering' }}"},
    )
)
register(
    TriggerType(
        "schedule",
        "Schedule",
        "Runs at every slot of a cron expression in a time zone, or once at an ISO date-time. "
        "Missed slots follow KEYFLOW_SCHEDULE_CATCH_UP.",
        {"type": "schedule", "cron": "0 7 * * 1-5", "timezone": "Europe/Berlin"},
    )
)


def trigger_catalogue() -> list[dict[str, Any]]:
    """Every trigger type with its settings schema from the DSL schema."""
    from workflows.dsl import load_schema

    schema = load_schema()
    definitions = schema.get("$defs", {})
    entries = []
    for trigger in TRIGGER_TYPES.values():
        entries.append(
            {
                "key": trigger.key,
                "label": trigger.label,
                "description": trigger.description,
                "example": trigger.example,
                "schema": definitions[f"{trigger.key}_trigger"],
            }
        )
    return entries


def context_fields(name: str) -> list[str]:
    """The fields ``event.<name>`` carries."""
    model = CONTEXT_MODELS.get(name)
    fields = [f.name for f in tracked_fields(model)] if model is not None else []
    return sorted({*fields, *EXTRA_FIELDS.get(name, ())})


def describe_event_type(event_type: EventType) -> dict[str, Any]:
    return {
        "key": event_type.key,
        "resource_type": str(event_type.resource_type),
        "description": event_type.description,
        "common": list(COMMON_CONTEXT),
        "objects": {name: context_fields(name) for name in event_type.context},
    }


def event_catalogue() -> list[dict[str, Any]]:
    """Every event type, its description and the fields each event carries."""
    return [describe_event_type(t) for t in EVENT_TYPES.values()]
