"""A manual workflow's input as a list of fields (name, type, required, description) ↔ ``input.schema``.

Admins describe the input their workflow takes as a list; the document keeps it as the JSON
Schema a run's input is checked against. A schema the list cannot show exactly (nested
conditions, ``oneOf`` at the top…) is edited as JSON instead; keywords of a field the list has
no column for (``enum``, ``format``, ``items``) are carried along unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict

__all__ = ["INPUT_TYPES", "InputField", "fields_from_post", "input_fields", "schema_from_fields"]

INPUT_TYPES: tuple[tuple[str, str], ...] = (
    ("string", "Text"),
    ("integer", "Whole number"),
    ("number", "Number"),
    ("boolean", "Yes / no"),
    ("array", "List"),
    ("object", "Object"),
)
_TOP_KEYS = {"type", "properties", "required", "additionalProperties", "$schema", "title", "description"}


@dataclass
class InputField:
    id: str
    name: str = ""
    type: str = "string"
    required: bool = False
    description: str = ""
    extra: str = ""  # other keywords of the property, as JSON
    focus: bool = False


def input_fields(schema: Any) -> list[InputField] | None:
    """The schema as fields, or None when only the JSON editor can show it faithfully."""
    if schema in (None, {}):
        return []
    if not isinstance(schema, dict) or set(schema) - _TOP_KEYS or schema.get("type", "object") != "object":
        return None
    properties = schema.get("properties", {})
    required = schema.get("required", [])
    if not isinstance(properties, dict) or not isinstance(required, list):
        return None
    fields = []
    for number, (name, prop) in enumerate(properties.items(), start=1):
        if not isinstance(prop, dict) or not isinstance(prop.get("type", "string"), str):
            return None
        extra = {k: v for k, v in prop.items() if k not in {"type", "description"}}
        fields.append(
            InputField(
                id=f"f{number}",
                name=name,
                type=prop.get("type", "string"),
                required=name in required,
                description=prop.get("description", ""),
                extra=json.dumps(extra, ensure_ascii=False) if extra else "",
            )
        )
    return fields


def schema_from_fields(fields: list[InputField], base: Any = None) -> tuple[dict[str, Any], dict[str, str]]:
    """``(schema, errors)``: the JSON Schema the fields describe (keeping ``base``'s other top-level
    keys), and per field id why a field could not be used."""
    schema: dict[str, Any] = {k: v for k, v in (base or {}).items() if k in _TOP_KEYS - {"properties", "required"}}
    schema["type"] = "object"
    properties: dict[str, Any] = {}
    required: list[str] = []
    errors: dict[str, str] = {}
    for f in fields:
        name = f.name.strip()
        if not name:
            continue
        if name in properties:
            errors[f.id] = f"Another field is already named {name!r}."
            continue
        prop: dict[str, Any] = {"type": f.type if f.type in dict(INPUT_TYPES) else "string"}
        if f.description.strip():
            prop["description"] = f.description.strip()
        if f.extra.strip():
            try:
                extra = json.loads(f.extra)
            except json.JSONDecodeError:
                extra = None
            if isinstance(extra, dict):
                prop.update({k: v for k, v in extra.items() if k not in {"type", "description"}})
        properties[name] = prop
        if f.required:
            required.append(name)
    schema["properties"] = properties
    if required:
        schema["required"] = required
    return schema, errors


def fields_from_post(data: QueryDict) -> list[InputField]:
    """The fields as posted by the trigger panel (empty rows included, so they stay on screen)."""
    fields = []
    for row_id in data.getlist("input-rows"):
        name = f"input-{row_id}-"
        fields.append(
            InputField(
                id=row_id,
                name=data.get(f"{name}name", ""),
                type=data.get(f"{name}type", "string"),
                required=data.get(f"{name}required") == "on",
                description=data.get(f"{name}description", ""),
                extra=data.get(f"{name}extra", ""),
            )
        )
    return fields
