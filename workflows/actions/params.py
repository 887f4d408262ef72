"""Building blocks for action params: labelled schemas, checking rendered params, paging.

Every param carries a ``title`` (the builder's label) and a ``description`` (its help text);
params naming a directory object add ``x-keyflow-ref`` through ``reference_schema``. Saving a
workflow checks literal params against the schema but leaves templated ones to run time, so
``CheckedAction`` checks the rendered params again before acting.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from directory.selectors import DateFilter
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError, Waiting
from workflows.actions.resolvers import reference_schema

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


def ref(kind: str, title: str, description: str | None = None) -> dict[str, Any]:
    """A param naming a directory object of ``kind`` (id or natural key)."""
    schema = {**reference_schema(kind), "title": title}
    if description:
        schema["description"] = description
    return schema


def field(type_: str | list[str], title: str, description: str, **extra: Any) -> dict[str, Any]:
    return {"type": type_, "title": title, "description": description, **extra}


def one_or_many(item: dict[str, Any], title: str, description: str) -> dict[str, Any]:
    """A filter taking one value or a list of values (any of them matches)."""
    return {
        "title": title,
        "description": description,
        "oneOf": [item, {"type": "array", "items": item, "minItems": 1, "maxItems": 100}],
    }


PAGING_PARAMS: dict[str, Any] = {
    "limit": field(
        "integer",
        "Limit",
        f"How many items to return at most (default {DEFAULT_LIMIT}, at most {MAX_LIMIT}).",
        minimum=1,
        maximum=MAX_LIMIT,
        default=DEFAULT_LIMIT,
    ),
    "offset": field("integer", "Offset", "How many matching items to skip (for the next page).", minimum=0, default=0),
}

_DATE_OR_TIME = {"type": "string", "minLength": 10, "maxLength": 40}


def date_filter(title: str, description: str) -> dict[str, Any]:
    """The schema of a ``DateFilter`` param."""
    return {
        "type": "object",
        "title": title,
        "description": description
        + " Give any of: before / after (an ISO date or date-time, strict), older_than_days / "
        "newer_than_days (counted back from now), missing (true: empty only; false: set only), "
        "or_missing (also match empty values).",
        "properties": {
            "before": {**_DATE_OR_TIME, "title": "Before", "description": "Strictly before this date or time."},
            "after": {**_DATE_OR_TIME, "title": "After", "description": "Strictly after this date or time."},
            "older_than_days": field("integer", "Older than (days)", "More than this many days ago.", minimum=0),
            "newer_than_days": field(
                "integer", "Newer than (days)", "This many days ago or later (future values too).", minimum=0
            ),
            "missing": field("boolean", "Missing", "True: only empty values; false: only set values."),
            "or_missing": field("boolean", "Or missing", "Also match items where the value is empty."),
        },
        "additionalProperties": False,
        "minProperties": 1,
    }


def parse_when(value: str, where: str) -> dt.date | dt.datetime:
    """An ISO date or date-time from a date filter, or an ``ActionError`` naming the param."""
    parsed: dt.date | dt.datetime | None = None
    try:
        parsed = parse_datetime(value) if "T" in value or " " in value.strip() else parse_date(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise ActionError(f"{where}: {value!r} is not an ISO date (2026-03-01) or date-time")
    return parsed


def to_date_filter(spec: dict[str, Any] | None, where: str) -> DateFilter | None:
    if spec is None:
        return None
    return DateFilter(
        before=parse_when(spec["before"], f"{where}.before") if "before" in spec else None,
        after=parse_when(spec["after"], f"{where}.after") if "after" in spec else None,
        older_than_days=spec.get("older_than_days"),
        newer_than_days=spec.get("newer_than_days"),
        missing=spec.get("missing"),
        or_missing=bool(spec.get("or_missing", False)),
    )


def check_params(action: Action, params: Any) -> None:
    """Raise ``ActionError`` listing what is wrong with rendered params, in the words saving uses."""
    from workflows.dsl.validator import _params_problems

    if not isinstance(params, dict):
        raise ActionError("with: params must be an object")
    problems = _params_problems(action, params, "with")
    if problems:
        raise ActionError("; ".join(f"{p.path}: {p.message}" for p in problems))


class CheckedAction(Action):
    """An action whose rendered params are checked against its schema before ``perform`` runs.
    Directory actions change (or read) only Keyflow's database: ``DATABASE``."""

    effect = DATABASE

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | Waiting:
        check_params(self, params)
        return self.perform(ctx, params)

    def perform(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | Waiting:
        raise NotImplementedError


def list_output(items: list[dict[str, Any]], total: int, offset: int) -> dict[str, Any]:
    return {"items": items, "count": len(items), "total": total, "has_more": offset + len(items) < total}


def list_output_schema(item_schema: dict[str, Any], noun: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": item_schema, "description": f"The {noun} of this page, in order."},
            "count": {"type": "integer", "description": "How many items this page holds."},
            "total": {"type": "integer", "description": f"How many {noun} match in all."},
            "has_more": {"type": "boolean", "description": "True when more match: ask again with offset + count."},
        },
    }
