"""A manual workflow's input as a list of fields, and its JSON Schema."""

from __future__ import annotations

from django.http import QueryDict

from workflows.builder.input_fields import fields_from_post, input_fields, schema_from_fields

SCHEMA = {
    "type": "object",
    "required": ["email"],
    "properties": {
        "email": {"type": "string", "format": "email", "description": "Who leaves"},
        "days": {"type": "integer"},
    },
}


def test_schema_to_fields_and_back():
    fields = input_fields(SCHEMA)
    assert [(f.name, f.type, f.required, f.description) for f in fields] == [
        ("email", "string", True, "Who leaves"),
        ("days", "integer", False, ""),
    ]
    schema, errors = schema_from_fields(fields, SCHEMA)
    assert errors == {}
    assert schema == SCHEMA  # format carried along unchanged


def test_schemas_the_list_cannot_show_go_to_the_json_editor():
    assert input_fields({"type": "object", "oneOf": [{}]}) is None
    assert input_fields({"type": "array"}) is None
    assert input_fields({"type": "object", "properties": {"x": {"type": ["string", "null"]}}}) is None
    assert input_fields(None) == []


def test_posted_rows_make_the_schema_unnamed_rows_skipped_duplicates_refused():
    data = QueryDict(mutable=True)
    for row, name, kind, required in (
        ("f1", "email", "string", "on"),
        ("f2", "", "string", ""),
        ("f3", "email", "integer", ""),
    ):
        data.appendlist("input-rows", row)
        data[f"input-{row}-name"] = name
        data[f"input-{row}-type"] = kind
        if required:
            data[f"input-{row}-required"] = required
    fields = fields_from_post(data)
    assert [f.id for f in fields] == ["f1", "f2", "f3"]
    schema, errors = schema_from_fields(fields)
    assert schema == {"type": "object", "properties": {"email": {"type": "string"}}, "required": ["email"]}
    assert errors == {"f3": "Another field is already named 'email'."}
