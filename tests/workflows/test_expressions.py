"""Expressions: native values, mixed text, conditions with or without braces, strict undefined
names, caching, static analysis (syntax, step references, names) and the date helpers."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from workflows import expressions
from workflows.expressions import (
    STATEMENTS_REFUSED,
    ExpressionError,
    UndefinedValueError,
    add_days,
    check_syntax,
    compile_source,
    days_since,
    days_until,
    email_domain,
    evaluate,
    is_single_expression,
    iter_templates,
    referenced_steps,
    render_value,
    to_date,
    to_datetime,
    undeclared_names,
)

SCOPE = {
    "input": {"email": "ann@example.com", "count": 3, "items": ["a", "b"], "flag": True, "nothing": None},
    "event": {
        "user": {
            "id": 7,
            "department": "Sales",
            "groups": [{"id": 1, "name": "VPN"}],
            "attributes": {},
            "manager": None,
        }
    },
    "steps": {"first": {"status": "succeeded", "output": {"id": 42}, "error": None}},
    "workflow": {"id": 1, "name": "onboard"},
    "execution": {"id": 9},
}


# --- rendering values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{{ input.items }}", ["a", "b"]),
        ("{{ event.user.groups[0] }}", {"id": 1, "name": "VPN"}),
        ("{{ input.count }}", 3),
        ("{{ input.count * 1.5 }}", 4.5),
        ("{{ input.flag }}", True),
        ("{{ input.nothing }}", None),
        ("{{ input.email }}", "ann@example.com"),
        ("{{input.count}}", 3),
        ("  {{   input.count   }}  ", 3),
        ("{{ input.count }}\n", 3),
        ("{# note #}{{ input.count }}", 3),
        ("{{ [input.count, 'x'] }}", [3, "x"]),
        ("{{ {'n': input.count} }}", {"n": 3}),
        ("{{ '42' }}", "42"),
    ],
)
def test_a_lone_expression_keeps_its_native_type(value: str, expected: object) -> None:
    result = render_value(value, SCOPE)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Welcome {{ input.email }}", "Welcome ann@example.com"),
        ("{{ input.count }} items", "3 items"),
        ("{{ input.count }}{{ input.count }}", "33"),
        ("{{ input.count }} and {{ input.flag }}", "3 and True"),
        ("{{ 'yes' if input.flag else 'no' }} {{ input.count }}", "yes 3"),
        ("{{ input.items|join(';') }};", "a;b;"),
        ("line 1\n{{ input.count }}\n", "line 1\n3\n"),
    ],
)
def test_text_around_expressions_renders_a_string(value: str, expected: str) -> None:
    assert render_value(value, SCOPE) == expected


@pytest.mark.parametrize("value", ["plain", "", "{ not a template }", "{% if x %}no braces{% endif %}", "50% off"])
def test_strings_without_double_braces_are_literals(value: str) -> None:
    assert render_value(value, {}) == value


@pytest.mark.parametrize("value", [1, 2.5, True, None])
def test_non_strings_are_returned_as_they_are(value: object) -> None:
    assert render_value(value, SCOPE) is value


def test_dicts_and_lists_are_walked_and_every_string_rendered() -> None:
    value = {
        "user": "{{ event.user.id }}",
        "to": ["{{ input.email }}", "it@example.com"],
        "attributes": {"team": "{{ event.user.department|lower }}", "n": 1},
        "subject": "Hello {{ input.email }}",
    }
    assert render_value(value, SCOPE) == {
        "user": 7,
        "to": ["ann@example.com", "it@example.com"],
        "attributes": {"team": "sales", "n": 1},
        "subject": "Hello ann@example.com",
    }


def test_rendered_values_are_json_safe_by_default() -> None:
    assert render_value("{{ to_date('2024-05-01') }}", {}) == "2024-05-01"
    assert render_value("{{ to_datetime('2024-05-01T10:00:00Z') }}", {}) == "2024-05-01T10:00:00+00:00"
    assert render_value("{{ input.items|map('upper') }}", SCOPE) == ["A", "B"]
    assert render_value("{{ range(3) }}", {}) == [0, 1, 2]
    assert render_value("{{ (1, 2) }}", {}) == [1, 2]
    assert render_value("{{ input.keys() }}", SCOPE) == list(SCOPE["input"])
    assert render_value("{{ {'at': now()} }}", {})["at"].endswith("+00:00")


def test_json_safe_false_keeps_python_values_for_comparisons() -> None:
    value = render_value("{{ to_datetime('2024-05-01T10:00:00Z') }}", {}, json_safe=False)
    assert value == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)
    assert render_value("{{ input.items|map('upper') }}", SCOPE, json_safe=False) == ["A", "B"]


def test_a_value_that_is_not_data_is_an_error() -> None:
    with pytest.raises(ExpressionError) as info:
        render_value("{{ now }}", {})
    assert info.value.message == "the value is a function, which is not data (JSON)"


def test_a_dict_key_wins_over_a_dict_method_of_the_same_name() -> None:
    scope = {"input": {"items": [1, 2], "keys": "k", "get": "g"}}
    assert render_value("{{ input.items }}", scope) == [1, 2]
    assert render_value("{{ input.keys }}-{{ input.get }}", scope) == "k-g"
    assert render_value("{{ input.get('missing', 'fallback') }}", {"input": {}}) == "fallback"


# --- conditions ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("event.user.department == 'Sales'", True),
        ("{{ event.user.department == 'Sales' }}", True),
        ("  {{ event.user.department == 'Eng' }} ", False),
        ("input.count > 2 and input.flag", True),
        ("'VPN' in event.user.groups|map(attribute='name')", True),
        ("steps.first.output.id", 42),
        ("input.items|select('eq', 'a')", ["a"]),
        ("true", True),
    ],
)
def test_evaluate_takes_expressions_with_or_without_braces(expr: str, expected: object) -> None:
    assert evaluate(expr, SCOPE) == expected


def test_evaluate_refuses_text_around_braces() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("{{ input.flag }} and {{ input.flag }}", SCOPE)
    assert info.value.message == "must be one expression, not text around {{ }} (it would always be true)"


def test_evaluate_refuses_a_non_string() -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(["x"], SCOPE)  # type: ignore[arg-type]
    assert info.value.message == "an expression must be a string, not list"


# --- undefined names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{{ inpt.email }}", "undefined name 'inpt'"),
        ("{{ event.usr }}", "'event' has no attribute 'usr'"),
        ("{{ event.user.departmnt }}", "'event.user' has no attribute 'departmnt'"),
        ("{{ event.user['dept'] }}", "'event.user' has no attribute 'dept'"),
        ("{{ event.user.groups[3] }}", "'event.user.groups' has no element 3"),
        ("{{ event.user.groups[0].nme }}", "'event.user.groups[0]' has no attribute 'nme'"),
        ("{{ event.usr.name.first }}", "'event' has no attribute 'usr'"),
        ("{{ steps.secnd.output }}", "'steps' has no attribute 'secnd'"),
        ("{{ steps.first.output.name }}", "'steps.first.output' has no attribute 'name'"),
        ("Hi {{ input.nme }}", "'input' has no attribute 'nme'"),
        ("{{ [event.usr] }}", "'event' has no attribute 'usr'"),
        ("{{ {'a': event.usr} }}", "'event' has no attribute 'usr'"),
        ("{{ event.usr == 1 }}", "'event' has no attribute 'usr'"),
        ("{{ nope() }}", "undefined name 'nope'"),
        ("{{ {'a': 1}.b }}", "'dict object' has no attribute 'b'"),
    ],
)
def test_undefined_is_an_error_naming_what_is_missing(value: str, message: str) -> None:
    with pytest.raises(UndefinedValueError) as info:
        render_value(value, SCOPE)
    assert info.value.message == message
    assert info.value.source == value


def test_undefined_in_a_condition_is_an_error_too() -> None:
    with pytest.raises(UndefinedValueError) as info:
        evaluate("event.user.departmnt == 'Sales'", SCOPE)
    assert info.value.message == "'event.user' has no attribute 'departmnt'"


def test_default_and_is_defined_still_work() -> None:
    assert render_value("{{ event.user.attributes.bumps|default(0) + 1 }}", SCOPE) == 1
    assert render_value("{{ event.usr|default('none') }}", SCOPE) == "none"
    assert render_value("{{ input.nothing|default('x', true) }}", SCOPE) == "x"
    assert evaluate("event.user.manager is defined", SCOPE) is True
    assert evaluate("event.user.boss is defined", SCOPE) is False
    assert evaluate("event.user.boss is not defined", SCOPE) is True


def test_a_value_of_none_is_not_undefined() -> None:
    assert render_value("{{ event.user.manager }}", SCOPE) is None


# --- runtime errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{{ 1 / 0 }}", "division by zero"),
        ("{{ 'a' + 1 }}", 'can only concatenate str (not "int") to str'),
        ("{{ input.email|int + [] }}", "unsupported operand type(s) for +: 'int' and 'list'"),
        ("{{ to_datetime('soon') }}", "'soon' is not a date or time"),
        ("{{ email_domain('nobody') }}", "'nobody' is not an email address"),
    ],
)
def test_evaluation_errors_are_expression_errors(value: str, message: str) -> None:
    with pytest.raises(ExpressionError) as info:
        render_value(value, SCOPE)
    assert info.value.message == message
    assert not isinstance(info.value, UndefinedValueError)


def test_a_source_that_does_not_parse_is_an_error_when_rendered() -> None:
    with pytest.raises(ExpressionError) as info:
        render_value("{{ input.email }", SCOPE)
    assert info.value.message == "does not parse: unexpected '}'"


# --- caching ------------------------------------------------------------------------------------


def test_a_source_compiles_once_and_is_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "{{ input.count + 100 }} cached-once"
    calls: list[object] = []
    real_from_string = expressions._ENV.from_string
    monkeypatch.setattr(expressions._ENV, "from_string", lambda *a, **k: calls.append(a) or real_from_string(*a, **k))
    first = compile_source(source)
    for _ in range(5):
        assert render_value(source, SCOPE) == "103 cached-once"
    assert compile_source(source) is first
    assert len(calls) == 1


def test_a_condition_compiles_once_and_is_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    source = "input.count == 12345"
    calls: list[object] = []
    real_from_string = expressions._ENV.from_string
    monkeypatch.setattr(expressions._ENV, "from_string", lambda *a, **k: calls.append(a) or real_from_string(*a, **k))
    for count in (12345, 1, 12345):
        assert evaluate(source, {"input": {"count": count}}) is (count == 12345)
    assert len(calls) == 1


def test_compiled_sources_are_shared_across_scopes() -> None:
    compiled = compile_source("{{ input.n }}")
    assert compiled.kind == "native"
    assert compiled.render({"input": {"n": 1}}) == 1
    assert compiled.render({"input": {"n": 2}}) == 2
    assert compile_source("a {{ input.n }}").kind == "text"
    assert compile_source("no braces").kind == "literal"


# --- static analysis ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ input.email }}", None),
        ("input.count > 1", None),
        ("Hi {{ input.email }}!", None),
        ("{{ input.email }", "unexpected '}'"),
        ("{{ input. }}", "expected name or number"),
        ("{{ 1 + }}", "unexpected 'end of print statement'"),
        ("input.count >", "unexpected 'end of template'"),
        ("a b", "unexpected 'b' after the expression"),
        ("{% if x %}{{ y }}", STATEMENTS_REFUSED),
        ("x\n{{ a + }}", "unexpected 'end of print statement' (line 2)"),
        ("{{ x|nosuchfilter }}", "No filter named 'nosuchfilter'."),
        ("x is nosuchtest", "No test named 'nosuchtest'."),
        ("{% include 'x' %}{{ 1 }}", STATEMENTS_REFUSED),
    ],
)
def test_check_syntax_gives_a_plain_message(source: str, message: str | None) -> None:
    assert check_syntax(source) == message


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ steps.first.output.id }}", {"first"}),
        ("{{ steps['second'].status }}", {"second"}),
        ("{{ steps.a.output }} and {{ steps.b.status }}", {"a", "b"}),
        ("steps.a.status == 'failed' or steps.b.output", {"a", "b"}),
        ("{{ steps[name].output }}", set()),
        ("{{ 'steps.a' }} steps.b", set()),
        ("{# steps.c #}{{ 1 }}", set()),
        ("{{ input.steps.a }}", set()),
        ("{{ steps.loop.output.items|map(attribute='id')|join }}", {"loop"}),
        ("{{ steps.a.output }", set()),
        ("plain steps.a text", set()),
    ],
)
def test_referenced_steps_reads_the_ast(source: str, expected: set[str]) -> None:
    assert referenced_steps(source) == expected


def test_undeclared_names_lists_scope_names_not_globals() -> None:
    source = "{{ devices|map(attribute=input.field)|join }}{{ now() }}"
    assert undeclared_names(source) == {"input", "devices"}  # globals such as now() are not scope names
    assert undeclared_names("event.user.id == inpt") == {"event", "inpt"}
    assert undeclared_names("{{ broken }") == set()


@pytest.mark.parametrize(
    ("source", "single"),
    [
        ("{{ x }}", True),
        (" {{ x }} ", True),
        ("x == 1", True),
        ("a {{ x }}", False),
        ("{{ x }}{{ y }}", False),
        ("{% if x %}{{ x }}{% endif %}", True),  # refused (statements), so reported, not counted as text
        ("{{ broken }", True),
    ],
)
def test_is_single_expression(source: str, single: bool) -> None:
    assert is_single_expression(source) is single


def test_iter_templates_lists_every_template_with_its_path() -> None:
    value = {"user": "{{ a }}", "n": 1, "to": ["x", "{{ b }}"], "attributes": {"t": "T {{ c }}"}, "plain": "p"}
    assert list(iter_templates(value, "do[0].x.with")) == [
        ("do[0].x.with.user", "{{ a }}"),
        ("do[0].x.with.to[1]", "{{ b }}"),
        ("do[0].x.with.attributes.t", "T {{ c }}"),
    ]


# --- helpers --------------------------------------------------------------------------------------


def test_now_is_aware_utc() -> None:
    value = evaluate("now()", {})
    assert value.tzinfo is dt.UTC
    assert abs((dt.datetime.now(dt.UTC) - value).total_seconds()) < 5
    assert evaluate("today()", {}) == dt.datetime.now(dt.UTC).date()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        ("2024-05-01T12:00:00+02:00", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        ("2024-05-01T10:00:00", dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        ("2024-05-01", dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        (dt.date(2024, 5, 1), dt.datetime(2024, 5, 1, tzinfo=dt.UTC)),
        (dt.datetime(2024, 5, 1, 10), dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)),
        (0, dt.datetime(1970, 1, 1, tzinfo=dt.UTC)),
    ],
)
def test_to_datetime_accepts_the_usual_forms(value: object, expected: dt.datetime) -> None:
    assert to_datetime(value) == expected


@pytest.mark.parametrize("value", [None, "tomorrow", True, [2024]])
def test_to_datetime_refuses_what_is_not_a_time(value: object) -> None:
    with pytest.raises(ExpressionError) as info:
        to_datetime(value)
    assert info.value.message == f"{value!r} is not a date or time"


def test_date_helpers() -> None:
    ten_days_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(days=10, hours=1)).isoformat()
    in_ten_days = (dt.datetime.now(dt.UTC) + dt.timedelta(days=10, hours=1)).isoformat()
    assert days_since(ten_days_ago) == 10
    assert days_until(in_ten_days) == 10
    assert to_date("2024-05-01T23:00:00-02:00") == dt.date(2024, 5, 2)
    assert add_days("2024-01-31", 30) == dt.date(2024, 3, 1)
    assert add_days(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 1)
    assert add_days("2024-01-31T08:00:00Z", 1) == dt.datetime(2024, 2, 1, 8, tzinfo=dt.UTC)
    assert email_domain("Ann@Example.COM") == "example.com"


def test_helpers_work_as_filters_and_as_functions() -> None:
    scope = {"event": {"user": {"hire_date": "2024-01-01", "email": "a@Corp.io"}}}
    assert render_value("{{ event.user.hire_date|add_days(90) }}", scope) == "2024-03-31"
    assert render_value("{{ add_days(event.user.hire_date, 90) }}", scope) == "2024-03-31"
    assert evaluate("event.user.hire_date|days_since > 300", scope) is True
    assert evaluate("days_since(event.user.hire_date) > 300", scope) is True
    assert evaluate("event.user.email|email_domain == 'corp.io'", scope) is True
    assert render_value("{{ event.user.hire_date|to_date }}", scope) == "2024-01-01"


# --- plain lookups without a Jinja context ------------------------------------------------------

LOOKUP_SCOPE = {
    "input": {"user": "ann", "n": 3, "flag": False, "none": None, "items": "shadowed", "nested": {"id": 7}},
    "steps": {"a": {"output": {"id": "u-1", "list": [1, 2]}, "status": "succeeded"}},
}


@pytest.mark.parametrize(
    "source",
    [
        "{{ input.user }}",
        "{{ input.n }}",
        "{{ input.flag }}",
        "{{ input.none }}",
        "{{ input['user'] }}",
        "{{ input.nested.id }}",
        "{{ steps.a.output.id }}",
        "{{ steps.a.output['id'] }}",
        "{{ steps.a.status }}",
        "{{ input['items'] }}",  # an item named like a dict attribute, by subscript: the item
        "{{ steps.a.output.list }}",  # a container: left to Jinja
        "{{ input.nested }}",
    ],
)
def test_a_plain_lookup_gives_what_the_sandbox_gives(source):
    compiled = expressions.compile_source(source)
    through_jinja = dataclasses.replace(compiled, path=None)
    assert compiled.render(LOOKUP_SCOPE) == through_jinja.render(LOOKUP_SCOPE)


def test_lookups_the_shortcut_leaves_to_the_sandbox():
    assert expressions.compile_source("{{ input.user | upper }}").path is None  # not a plain lookup
    assert expressions.compile_source("Hi {{ input.user }}").path is None  # text
    # ``input.items`` is the dict's method to the sandbox, not the item: never taken by the shortcut.
    compiled = expressions.compile_source("{{ input.items }}")
    assert expressions._look_up(compiled.path, LOOKUP_SCOPE) is expressions._NOT_PLAIN
    with pytest.raises(expressions.ExpressionError, match="missing"):
        expressions.compile_source("{{ input.missing }}").render(LOOKUP_SCOPE)
    with pytest.raises(expressions.ExpressionError):
        expressions.compile_source("{{ input.__class__ }}").render(LOOKUP_SCOPE)
    assert expressions.evaluate("input.flag", LOOKUP_SCOPE) is False
    assert expressions.compile_source("{{ input.user }}").path == (("input", False), ("user", True))
