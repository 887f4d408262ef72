"""A card's form, generated from its action's ``params_schema``, and the params read back from it.

The schema that validates a call's params (``workflows.dsl.validator``) also decides how each
param is edited, so a new action needs no form code:

=========================================== =====================================================
schema                                      field
=========================================== =====================================================
``x-keyflow-ref`` (user, group, device, …)  text with search-as-you-type suggestions
``enum``                                    a select of the values
``boolean``                                 a select: not set, yes, no
``integer`` / ``number``                    a number (text, so a ``{{ }}`` reference fits too)
``array``                                   a list of items, or one ``{{ }}`` giving the list
``object`` without ``properties``           key/value rows (custom attributes), or one ``{{ }}``
``object`` with ``properties``              JSON text
``oneOf`` / several types (one or many)     text; a JSON list or object typed in is read as one
anything else                               text
=========================================== =====================================================

Every text-like field takes a ``{{ … }}`` reference (the variable picker inserts one); an empty
field leaves the param out. Params the schema does not know are kept as they are and shown as
JSON, so a form never drops what the JSON view put there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.expressions import is_template

__all__ = ["LAYOUT_OPS", "ParamField", "apply_layout", "extra_params", "param_fields", "params_from_form"]

PREFIX = "param:"
EXTRA = "params_extra"


@dataclass
class ParamField:
    """One param as the panel draws it."""

    name: str
    label: str
    kind: str  # ref | enum | boolean | number | list | keyvalue | json | value | text
    required: bool
    description: str = ""
    ref: str = ""
    choices: list[str] = field(default_factory=list)
    text: str = ""  # text, ref, enum, boolean, number, json — and lists/key-values given as one {{ }}
    items: list[str] = field(default_factory=list)
    pairs: list[tuple[str, str]] = field(default_factory=list)
    expression_mode: bool = False
    errors: list[str] = field(default_factory=list)
    placeholder: str = ""
    new_row: bool = False  # the last item/pair was just added (it gets the focus)

    @property
    def input_name(self) -> str:
        return f"{PREFIX}{self.name}"

    @property
    def field_id(self) -> str:
        return f"param-{self.name}"

    @property
    def error_key(self) -> str:
        """The problem path (relative to the card) this field's messages are filed under."""
        return f"with.{self.name}"


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return {k for k in kind if k != "null"}
    return {kind} if isinstance(kind, str) else set()


def _kind(schema: dict[str, Any]) -> str:
    if schema.get("x-keyflow-ref"):
        return "ref"
    if isinstance(schema.get("enum"), list):
        return "enum"
    types = _types(schema)
    if types == {"boolean"}:
        return "boolean"
    if types and types <= {"integer", "number"}:
        return "number"
    if types == {"array"}:
        return "list"
    if types == {"object"}:
        return "json" if isinstance(schema.get("properties"), dict) else "keyvalue"
    if (types and types != {"string"}) or "oneOf" in schema or "anyOf" in schema:
        return "value"
    return "text"


def _label(name: str, schema: dict[str, Any]) -> str:
    return schema.get("title") or name.replace("_", " ").capitalize()


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def _placeholder(kind: str, schema: dict[str, Any]) -> str:
    fmt = schema.get("format")
    if fmt == "date":
        return "YYYY-MM-DD or {{ … }}"
    if fmt == "email":
        return "name@example.com or {{ … }}"
    if kind == "ref":
        return "Type to search, or {{ … }}"
    if kind == "number":
        return "A number or {{ … }}"
    if kind == "value":
        return 'A value, a JSON list ["a", "b"], or {{ … }}'
    return ""


def param_fields(schema: dict[str, Any], params: dict[str, Any]) -> list[ParamField]:
    """The form's fields for an action's ``schema``, filled from the task's ``params``."""
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    required = set(schema.get("required") or [])
    fields = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = _kind(prop)
        value = params.get(name)
        f = ParamField(
            name=name,
            label=_label(name, prop),
            kind=kind,
            required=name in required,
            description=prop.get("description", ""),
            ref=prop.get("x-keyflow-ref", ""),
            choices=[str(c) for c in prop.get("enum") or []],
            placeholder=_placeholder(kind, prop),
        )
        if kind == "list":
            if isinstance(value, list):
                f.items = [_as_text(item) for item in value]
            elif value not in (None, ""):
                f.expression_mode, f.text = True, _as_text(value)
        elif kind == "keyvalue":
            if isinstance(value, dict):
                f.pairs = [(key, _as_text(item)) for key, item in value.items()]
            elif value not in (None, ""):
                f.expression_mode, f.text = True, _as_text(value)
        elif kind == "json":
            f.text = "" if value is None else (value if is_template(value) else json.dumps(value, indent=2))
        else:
            f.text = _as_text(value)
            if kind == "enum" and f.text and f.text not in f.choices:
                f.choices = [f.text, *f.choices]  # a {{ }} reference, or a value the enum lost
        fields.append(f)
    return fields


def extra_params(schema: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Params the schema does not define (kept, shown as JSON, flagged by the validator)."""
    known = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    return {name: value for name, value in params.items() if name not in known}


def _number(text: str) -> Any:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text  # a {{ }} reference, or not a number: the validator says which


def _loose(text: str) -> Any:
    """A one-or-many field's text: a JSON list or object when it is one, else the text itself."""
    if text[:1] in "[{" and not is_template(text):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text  # the validator says what is wrong with it
    return text


def _item(text: str, schema: Any) -> Any:
    types = _types(schema) if isinstance(schema, dict) else set()
    if types and types <= {"integer", "number"} and not is_template(text):
        return _number(text)
    return text


def params_from_form(schema: dict[str, Any], data: QueryDict, previous: dict[str, Any]) -> tuple[dict, dict]:
    """``(params, errors)`` read from a posted panel form; ``errors`` maps a param to why its
    text could not be read (bad JSON) — that param keeps its previous value."""
    properties = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    params: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, prop in properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = _kind(prop)
        key = f"{PREFIX}{name}"
        mode = data.get(f"{key}:mode", "")
        if kind in {"list", "keyvalue"} and mode == "expression":
            text = data.get(key, "").strip()
            if text:
                params[name] = text
            continue
        if kind == "list":
            items = [item.strip() for item in data.getlist(key) if item.strip()]
            if items:
                params[name] = [_item(item, prop.get("items")) for item in items]
        elif kind == "keyvalue":
            keys, values = data.getlist(f"{key}:key"), data.getlist(f"{key}:value")
            pairs = {k.strip(): v for k, v in zip(keys, values, strict=False) if k.strip()}
            if pairs:
                params[name] = pairs
        else:
            text = data.get(key, "").strip()
            if not text:
                continue
            if kind == "boolean" and text in {"true", "false"}:
                params[name] = text == "true"
            elif kind == "number":
                params[name] = _number(text)
            elif kind == "json" and not is_template(text):
                try:
                    params[name] = json.loads(text)
                except json.JSONDecodeError as exc:
                    errors[name] = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
                    if name in previous:
                        params[name] = previous[name]
            elif kind == "value":
                params[name] = _loose(text)
            else:
                params[name] = text
    extra_text = data.get(EXTRA, "").strip()
    if extra_text:
        try:
            extra = json.loads(extra_text)
        except json.JSONDecodeError as exc:
            errors[EXTRA] = f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
            extra = extra_params(schema, previous)
        if isinstance(extra, dict):
            params.update({k: v for k, v in extra.items() if k not in properties})
        else:
            errors[EXTRA] = "Other params must be a JSON object."
    return params, errors


# Buttons that change how a list or key/value field is drawn, not what the document holds.
LAYOUT_OPS = ("add-item", "add-pair", "expression", "items")


def apply_layout(fields: list[ParamField], op: str) -> str:
    """Apply a layout button (``add-item:<param>`` …) to the drawn fields; returns the id to focus."""
    name, _, param = op.partition(":")
    target = next((f for f in fields if f.name == param), None)
    if target is None or name not in LAYOUT_OPS:
        return ""
    if name == "add-item":
        target.expression_mode = False
        target.items.append("")
    elif name == "add-pair":
        target.expression_mode = False
        target.pairs.append(("", ""))
    elif name == "expression":
        target.expression_mode = True
        return target.field_id
    else:
        target.expression_mode, target.text = False, ""
        target.items = target.items or [""]
        target.pairs = target.pairs or ([("", "")] if target.kind == "keyvalue" else [])
    target.new_row = True
    return f"{target.field_id}-new"
