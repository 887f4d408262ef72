"""The Run dialog's form, built from the workflow's input schema, and the input JSON read from it.

Text, numbers, yes/no, a choice for ``enum``, one item per line for lists of plain values, JSON
for objects and anything the form cannot show. The input is then checked with the workflow's
input schema (``workflows.services.input_problems``, the check the run service makes) before
anything is started.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

__all__ = ["RunField", "input_from_form", "run_fields"]

PREFIX = "input:"


@dataclass
class RunField:
    name: str
    label: str
    kind: str  # text | number | boolean | enum | lines | json
    required: bool
    description: str = ""
    choices: list[str] = field(default_factory=list)
    value: str = ""
    errors: list[str] = field(default_factory=list)

    @property
    def input_name(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def field_id(self) -> str:
        return f"run-{self.name}"


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(schema.get("enum"), list):
        return "enum"
    if kind == "boolean":
        return "boolean"
    if kind in {"integer", "number"}:
        return "number"
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        return "lines" if items.get("type", "string") in {"string", "integer", "number"} else "json"
    if kind in {"object"} or isinstance(kind, list):
        return "json"
    return "text"


def _schema(definition: dict[str, Any]) -> dict[str, Any]:
    spec = definition.get("input") if isinstance(definition.get("input"), dict) else {}
    schema = spec.get("schema")
    return schema if isinstance(schema, dict) else {}


def run_fields(definition: dict[str, Any], values: dict[str, Any] | None = None) -> list[RunField]:
    """One field per property of the input schema, filled from ``values``."""
    schema = _schema(definition)
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    values = values or {}
    fields = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = _kind(prop)
        value = values.get(name)
        if value is None:
            text = ""
        elif kind == "lines" and isinstance(value, list):
            text = "\n".join(str(v) for v in value)
        elif kind == "json":
            text = json.dumps(value, indent=2)
        elif kind == "boolean":
            text = "true" if value is True else "false" if value is False else ""
        else:
            text = str(value)
        fields.append(
            RunField(
                name=name,
                label=prop.get("title") or name.replace("_", " ").capitalize(),
                kind=kind,
                required=name in required,
                description=prop.get("description", ""),
                choices=[str(c) for c in prop.get("enum") or []],
                value=text,
            )
        )
    return fields


def _number(text: str, kind: Any) -> Any:
    try:
        return int(text) if kind == "integer" else (int(text) if text.lstrip("-").isdigit() else float(text))
    except ValueError:
        return text  # the schema check says "must be a number"


def input_from_form(definition: dict[str, Any], data: QueryDict) -> tuple[dict[str, Any], dict[str, str]]:
    """``(input, errors)`` from the posted form; ``errors`` names fields whose text is not JSON."""
    schema = _schema(definition)
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    result: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = _kind(prop)
        text = data.get(f"{PREFIX}{name}", "")
        if kind == "boolean":
            if text in {"true", "false"}:
                result[name] = text == "true"
            continue
        if not text.strip():
            continue
        if kind == "number":
            result[name] = _number(text.strip(), prop.get("type"))
        elif kind == "lines":
            item_type = (prop.get("items") or {}).get("type", "string")
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            result[name] = [_number(line, item_type) if item_type != "string" else line for line in lines]
        elif kind == "json":
            try:
                result[name] = json.loads(text)
            except json.JSONDecodeError as exc:
                errors[name] = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        else:
            result[name] = text.strip() if kind == "enum" else text
    return result, errors
