"""Forms generated from an action's params schema, and the params read back from a posted form."""

from __future__ import annotations

from django.http import QueryDict

from workflows.builder.param_forms import apply_layout, extra_params, param_fields, params_from_form

SCHEMA = {
    "type": "object",
    "required": ["user", "to"],
    "properties": {
        "user": {"oneOf": [{"type": "integer"}, {"type": "string"}], "x-keyflow-ref": "user", "description": "Who"},
        "employee_type": {"type": "string", "enum": ["employee", "contractor"]},
        "mfa_enrolled": {"type": "boolean"},
        "retries": {"type": "integer"},
        "to": {"type": "array", "items": {"type": "string"}},
        "ports": {"type": "array", "items": {"type": "integer"}},
        "attributes": {"type": "object"},
        "body": {"type": "object", "properties": {"x": {"type": "string"}}},
        "hire_date": {"type": ["string", "null"], "format": "date"},
        "subject": {"type": "string"},
        "department": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    },
    "additionalProperties": False,
}


def form(pairs):
    data = QueryDict(mutable=True)
    for key, value in pairs:
        data.appendlist(key, value)
    return data


def by_name(fields):
    return {f.name: f for f in fields}


def test_each_schema_shape_gets_its_kind_of_field():
    fields = by_name(param_fields(SCHEMA, {}))
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "user": "ref",
        "employee_type": "enum",
        "mfa_enrolled": "boolean",
        "retries": "number",
        "to": "list",
        "ports": "list",
        "attributes": "keyvalue",
        "body": "json",
        "hire_date": "text",
        "subject": "text",
        "department": "value",
    }
    assert fields["user"].ref == "user" and fields["user"].required and fields["user"].description == "Who"
    assert fields["employee_type"].choices == ["employee", "contractor"]
    assert fields["hire_date"].placeholder.startswith("YYYY-MM-DD")


def test_fields_show_current_values_and_templates():
    params = {
        "user": "{{ input.email }}",
        "to": ["a@x.com", "{{ input.cc }}"],
        "attributes": {"team": "core"},
        "ports": "{{ input.ports }}",
        "employee_type": "{{ input.kind }}",
        "retries": 3,
    }
    fields = by_name(param_fields(SCHEMA, params))
    assert fields["user"].text == "{{ input.email }}"
    assert fields["to"].items == ["a@x.com", "{{ input.cc }}"]
    assert fields["attributes"].pairs == [("team", "core")]
    assert (fields["ports"].expression_mode, fields["ports"].text) == (True, "{{ input.ports }}")
    assert fields["employee_type"].choices[0] == "{{ input.kind }}"
    assert fields["retries"].text == "3"


def test_params_read_back_with_types_and_empty_fields_left_out():
    data = form(
        [
            ("param:user", " ann "),
            ("param:employee_type", "contractor"),
            ("param:mfa_enrolled", "false"),
            ("param:retries", "3"),
            ("param:to", "a@x.com"),
            ("param:to", ""),
            ("param:to", "{{ input.cc }}"),
            ("param:ports", "22"),
            ("param:ports", "{{ input.port }}"),
            ("param:attributes:key", "team"),
            ("param:attributes:value", "core"),
            ("param:attributes:key", ""),
            ("param:attributes:value", "ignored"),
            ("param:body", '{"x": "y"}'),
            ("param:hire_date", ""),
            ("param:subject", "Hi {{ input.name }}"),
        ]
    )
    params, errors = params_from_form(SCHEMA, data, {})
    assert errors == {}
    assert params == {
        "user": "ann",
        "employee_type": "contractor",
        "mfa_enrolled": False,
        "retries": 3,
        "to": ["a@x.com", "{{ input.cc }}"],
        "ports": [22, "{{ input.port }}"],
        "attributes": {"team": "core"},
        "body": {"x": "y"},
        "subject": "Hi {{ input.name }}",
    }


def test_expression_mode_and_bad_json_keep_the_previous_value():
    data = form([("param:to:mode", "expression"), ("param:to", "{{ input.list }}"), ("param:body", "{nope")])
    params, errors = params_from_form(SCHEMA, data, {"body": {"x": "old"}})
    assert params == {"to": "{{ input.list }}", "body": {"x": "old"}}
    assert errors["body"].startswith("Not valid JSON")


def test_params_outside_the_schema_are_kept():
    assert extra_params(SCHEMA, {"user": "a", "legacy": 1}) == {"legacy": 1}
    params, errors = params_from_form(SCHEMA, form([("params_extra", '{"legacy": 2}')]), {})
    assert (params, errors) == ({"legacy": 2}, {})


def test_layout_buttons_add_a_row_or_switch_to_one_expression():
    fields = param_fields(SCHEMA, {"to": ["a"]})
    assert apply_layout(fields, "add-item:to") == "param-to-new"
    to = by_name(fields)["to"]
    assert (to.items, to.new_row) == (["a", ""], True)
    assert apply_layout(fields, "expression:to") == "param-to"
    assert to.expression_mode
    assert apply_layout(fields, "add-pair:attributes") == "param-attributes-new"
    assert by_name(fields)["attributes"].pairs == [("", "")]
    assert apply_layout(fields, "add-item:nonexistent") == ""


def test_one_or_many_fields_take_text_or_a_json_list():
    params, errors = params_from_form(SCHEMA, form([("param:department", '["Sales", "Support"]')]), {})
    assert (params, errors) == ({"department": ["Sales", "Support"]}, {})
    params, _ = params_from_form(SCHEMA, form([("param:department", "Sales")]), {})
    assert params == {"department": "Sales"}
    assert by_name(param_fields(SCHEMA, {"department": ["a", "b"]}))["department"].text == '["a", "b"]'
