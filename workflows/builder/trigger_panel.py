"""The trigger card's panel: manual input fields, an event type and its filter, or a schedule.

Manual: the input as a list of fields (``input_fields``) or the JSON Schema itself. Event: the
event types by category and an optional filter (the same condition editor as If / else).
Schedule: once (date, time, time zone) or recurring (cron with presets), with the plain-language
description and the next five run times in the schedule's time zone.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.builder.catalogue import EventEntry, events_by_category
from workflows.builder.condition_form import ConditionForm
from workflows.builder.cron import PRESETS, describe_cron, next_runs, timezone_names
from workflows.builder.input_fields import INPUT_TYPES, InputField, fields_from_post, input_fields, schema_from_fields
from workflows.builder.problems import TRIGGER, PlacedProblems, field_errors, slot_id
from workflows.builder.scope import VariableGroup, variables_at

__all__ = ["TriggerPanel", "trigger_from_form", "trigger_panel"]

WHEN = "when:"
_KEYS = {
    "manual": ("input.schema",),
    "event": ("trigger.event", "trigger.when"),
    "schedule": ("trigger.cron", "trigger.timezone", "trigger.once"),
}


@dataclass
class TriggerPanel:
    kind: str
    trigger: dict[str, Any]
    input_mode: str = "fields"
    fields: list[InputField] = field(default_factory=list)
    schema_text: str = ""
    input_types: tuple[tuple[str, str], ...] = INPUT_TYPES
    events: list[tuple[str, list[EventEntry]]] = field(default_factory=list)
    when: ConditionForm | None = None
    has_filter: bool = False
    variables: list[VariableGroup] = field(default_factory=list)
    schedule_mode: str = "recurring"
    once_date: str = ""
    once_time: str = ""
    presets: tuple[tuple[str, str], ...] = PRESETS
    cron_text: str = ""
    next_runs: list[dt.datetime] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    problem_count: int = 0
    focus: str = ""

    def field_keys(self) -> tuple[str, ...]:
        """The problem paths this panel shows beside a field (others go to the top)."""
        return _KEYS.get(self.kind, ())

    @property
    def error_slots(self) -> list[tuple[str, list[str]]]:
        return [(slot_id(key), self.errors.get(key, [])) for key in ("", *self.field_keys())]

    @property
    def timezone(self) -> str:
        return self.trigger.get("timezone") or "UTC"

    @property
    def cron(self) -> str:
        return self.trigger.get("cron") or ""

    @property
    def timezones(self) -> tuple[str, ...]:
        return timezone_names()

    @property
    def next_field_id(self) -> int:
        return max((int(f.id[1:]) for f in self.fields if f.id[1:].isdigit()), default=0) + 1


def _once_parts(trigger: dict[str, Any]) -> tuple[str, str]:
    once = trigger.get("once")
    if not isinstance(once, str) or not once:
        return "", ""
    try:
        moment = dt.datetime.fromisoformat(once)
    except ValueError:
        return "", ""
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H:%M")


def trigger_panel(
    doc: dict[str, Any],
    placed: PlacedProblems | None = None,
    *,
    posted: QueryDict | None = None,
    when: ConditionForm | None = None,
    focus: str = "",
    now: dt.datetime | None = None,
) -> TriggerPanel:
    """The trigger panel for ``doc``. ``posted`` keeps the input rows as the admin left them (empty
    ones included) and ``when`` the filter editor, when the panel is redrawn after a button."""
    trigger = doc.get("trigger") if isinstance(doc.get("trigger"), dict) else {}
    panel = TriggerPanel(kind=trigger.get("type", ""), trigger=trigger, focus=focus)
    if panel.kind == "manual":
        schema = (doc.get("input") or {}).get("schema") if isinstance(doc.get("input"), dict) else None
        fields = input_fields(schema)
        wants_schema = posted is not None and posted.get("input_mode") == "schema"
        if fields is None or wants_schema:
            panel.input_mode = "schema"
        panel.fields = fields_from_post(posted) if posted is not None and not wants_schema else (fields or [])
        panel.schema_text = json.dumps(schema if schema is not None else {"type": "object", "properties": {}}, indent=2)
    elif panel.kind == "event":
        panel.events = events_by_category()
        current = trigger.get("when")
        panel.has_filter = current not in (None, "") or (posted is not None and posted.get("filter_enabled") == "on")
        panel.when = when or ConditionForm.from_condition(WHEN, current)
        panel.variables = variables_at(doc, None)
    elif panel.kind == "schedule":
        panel.once_date, panel.once_time = _once_parts(trigger)
        panel.schedule_mode = "once" if trigger.get("once") else "recurring"
        if panel.schedule_mode == "recurring" and panel.cron:
            panel.cron_text = describe_cron(panel.cron)
        panel.next_runs = next_runs(trigger, 5, now)
    if placed is not None:
        problems = placed.on(TRIGGER)
        panel.problem_count = len(problems)
        panel.errors = field_errors(problems, panel.field_keys())
    return panel


def trigger_from_form(doc: dict[str, Any], data: QueryDict) -> dict[str, str]:
    """Write the posted trigger panel into ``doc`` (trigger, and input for manual workflows);
    returns per-field errors for text the panel could not read."""
    trigger = dict(doc.get("trigger")) if isinstance(doc.get("trigger"), dict) else {"type": "manual"}
    kind = trigger.get("type")
    errors: dict[str, str] = {}
    if kind == "manual":
        if data.get("input_mode") == "schema":
            text = data.get("input_schema", "").strip() or "{}"
            try:
                schema = json.loads(text)
            except json.JSONDecodeError as exc:
                errors["input_schema"] = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
                return errors
        else:
            base = (doc.get("input") or {}).get("schema") if isinstance(doc.get("input"), dict) else None
            schema, field_problems = schema_from_fields(
                fields_from_post(data), base if isinstance(base, dict) else None
            )
            errors.update({f"input-{key}-name": message for key, message in field_problems.items()})
        doc["input"] = {"schema": schema}
    elif kind == "event":
        trigger["event"] = data.get("event", "").strip()
        when = ConditionForm.from_post(WHEN, data).to_condition() if data.get("filter_enabled") == "on" else None
        if when is None:
            trigger.pop("when", None)
        else:
            trigger["when"] = when
    elif kind == "schedule":
        trigger["timezone"] = data.get("timezone", "").strip() or "UTC"
        if data.get("schedule_mode") == "once":
            trigger.pop("cron", None)
            day, time = data.get("once_date", "").strip(), data.get("once_time", "").strip()
            if day and time:
                trigger["once"] = f"{day}T{time}:00" if len(time) == 5 else f"{day}T{time}"
            else:
                trigger["once"] = ""
                errors["once_date"] = "Choose the date and the time."
        else:
            trigger.pop("once", None)
            trigger["cron"] = " ".join(data.get("cron", "").split())
    doc["trigger"] = trigger
    return errors
