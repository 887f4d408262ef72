"""The validator refuses documents past its limits quickly, with a clear problem, never a crash.

Before issue 17 each of these raised ``RecursionError`` in the validator (documents nested 40
switches or 60 fors deep, a 607-character parenthesised expression, 1,000 chained filters, a
3,000-term sum) or took seconds to minutes (5,000 to 20,000 tasks). No test here touches the
database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from workflows.dsl import Problem, load_schema, validate_definition
from workflows.dsl.limits import document_limit_problems
from workflows.expressions import STATEMENTS_REFUSED


def _call(name: str = "leaf", **extra: Any) -> dict[str, Any]:
    return {name: {"call": "user.update", "with": {"user": "{{ input.user }}", "job_title": "Engineer"}, **extra}}


def _document(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    return {"dsl": "1.0", "trigger": {"type": "manual"}, "do": tasks}


def nested_switches(levels: int) -> dict[str, Any]:
    tasks = [_call()]
    for level in range(levels):
        tasks = [{f"s{level}": {"switch": [{"c": {"when": "true", "do": tasks}}, {"default": {"do": []}}]}}]
    return _document(tasks)


def nested_fors(levels: int) -> dict[str, Any]:
    tasks = [_call()]
    for level in range(levels):
        tasks = [{f"f{level}": {"for": {"each": f"v{level}", "in": [1]}, "do": tasks}}]
    return _document(tasks)


def many_tasks(count: int) -> dict[str, Any]:
    return _document([_call(f"t{i}") for i in range(count)])


def with_expression(source: str) -> dict[str, Any]:
    document = _document([_call()])
    document["do"][0]["leaf"]["with"]["job_title"] = source
    return document


def _problems_quickly(document: dict[str, Any], seconds: float = 1.0) -> list[Problem]:
    started = time.thread_time()
    problems = validate_definition(document)
    assert time.thread_time() - started < seconds
    return problems


ISSUE_CASES: list[tuple[str, Callable[[], dict[str, Any]], str]] = [
    ("40 switches", lambda: nested_switches(40), "nested deeper than 64 levels of objects and lists"),
    ("60 fors", lambda: nested_fors(60), "nested deeper than 64 levels of objects and lists"),
    ("607-char parentheses", lambda: with_expression("{{ " + "(" * 300 + "1" + ")" * 300 + " }}"), "nested deeper"),
    ("1,000 filters", lambda: with_expression("{{ 1" + "|string" * 1000 + " }}"), "nested deeper"),
    ("3,000-term sum", lambda: with_expression("{{ " + "+".join(["1"] * 3000) + " }}"), "nested deeper"),
    ("5,000 tasks", lambda: many_tasks(5000), "a workflow definition is at most 256 KB (as JSON)"),
    ("20,000 tasks", lambda: many_tasks(20000), "a workflow definition is at most 256 KB (as JSON)"),
]


@pytest.mark.parametrize(("case", "build", "message"), ISSUE_CASES, ids=[c[0] for c in ISSUE_CASES])
def test_the_issue_s_documents_are_refused_quickly_with_one_clear_problem(
    case: str, build: Callable[[], dict[str, Any]], message: str
) -> None:
    problems = _problems_quickly(build())
    assert len(problems) == 1, problems
    assert message in problems[0].message


def test_a_document_of_many_small_tasks_is_refused_by_count() -> None:
    document = _document([{f"t{i}": {"call": "user.suspend", "with": {"user": "x"}}} for i in range(501)])
    assert _problems_quickly(document) == [Problem("do", "a workflow has at most 500 tasks (nested ones included)")]
    assert validate_definition(_document(document["do"][:500])) == []


def test_task_nesting_is_refused_at_the_task_too_deep() -> None:
    assert validate_definition(nested_fors(7)) == []  # seven loops and the call inside: 8 levels
    problems = validate_definition(nested_fors(8))
    path = ".".join(f"do[0].f{level}" for level in range(7, -1, -1))
    assert problems == [Problem(path, "tasks are nested deeper than 8 levels (switch and for)")]


def test_deep_values_in_params_are_refused_by_depth() -> None:
    value: Any = "x"
    for _ in range(70):
        value = {"a": [value]}
    document = _document([_call()])
    document["do"][0]["leaf"]["with"]["attributes"] = value
    [problem] = _problems_quickly(document)
    assert problem.path.startswith("do[0].leaf.with.attributes.a[0].a[0]")
    assert problem.message == "the definition is nested deeper than 64 levels of objects and lists"


def test_deep_conditions_are_refused_by_depth() -> None:
    condition: Any = "true"
    for _ in range(200):
        condition = {"not": condition}
    [problem] = _problems_quickly(_document([_call(**{"if": condition})]))
    assert "nested deeper than 64" in problem.message


def test_expression_problems_carry_their_path() -> None:
    document = with_expression("{{ " + "(" * 30 + "1" + ")" * 30 + " }}")
    document["do"][0]["leaf"]["if"] = "input.user == 'x' and " + "not " * 40 + "true"
    document["do"].append({"later": {"call": "user.suspend", "with": {"user": "{% for x in y %}{{ x }}{% endfor %}"}}})
    too_deep = "expression is nested deeper than 24 levels (brackets and chained operators)"
    assert validate_definition(document) == [
        Problem("do[0].leaf.if", too_deep),
        Problem("do[0].leaf.with.job_title", too_deep),
        Problem("do[1].later.with.user", STATEMENTS_REFUSED),
    ]


def test_statements_are_refused_wherever_a_template_goes() -> None:
    document = {
        "dsl": "1.0",
        "trigger": {"type": "event", "event": "user.created", "when": "{% if true %}{{ true }}{% endif %}"},
        "do": [
            {"each": {"for": {"each": "d", "in": "{% set l = [1] %}{{ l }}"}, "do": [_call()]}},
            _call("other", **{"if": {"left": "{% raw %}x{% endraw %}{{ 1 }}", "op": "eq", "right": 1}}),
        ],
    }
    assert validate_definition(document) == [
        Problem("trigger.when", STATEMENTS_REFUSED),
        Problem("do[0].each.for.in", STATEMENTS_REFUSED),
        Problem("do[1].other.if.left", STATEMENTS_REFUSED),
    ]


def _at_every_limit() -> dict[str, Any]:
    """8 levels of loops, a condition nested to the document's depth limit and expressions at
    the depth limit: the most recursion a valid document can ask of the validator."""
    expression = "(" * 23 + "input.user" + ")" * 23
    leaf = _call()["leaf"]
    leaf["with"]["job_title"] = "{{ " + expression + " }}"
    tasks = [{"leaf": leaf}]
    for level in range(7):
        tasks = [{f"f{level}": {"for": {"each": f"v{level}", "in": "{{ " + expression + " }}"}, "do": tasks}}]
    document = _document(tasks)
    condition: Any = expression
    while True:
        leaf["if"] = {"not": condition}
        if document_limit_problems(document):
            leaf["if"] = condition
            return document
        condition = leaf["if"]


def _with_frames(frames: int, call: Callable[[], Any]) -> Any:
    return call() if frames == 0 else _with_frames(frames - 1, call)


def test_a_document_at_every_limit_validates_even_from_a_deep_stack() -> None:
    """A request reaches the validator some 150 frames deep; leave it twice that."""
    document = _at_every_limit()
    assert document_limit_problems(document) == []
    problems = _with_frames(300, lambda: validate_definition(document))
    assert not [p for p in problems if "recursion" in p.message.lower()]
    assert problems == []


def test_the_settings_change_the_limits(settings: Any) -> None:
    settings.KEYFLOW_MAX_TASKS = 3
    settings.KEYFLOW_MAX_DOCUMENT_BYTES = 100_000
    assert validate_definition(many_tasks(3)) == []
    too_many = Problem("do", "a workflow has at most 3 tasks (nested ones included)")
    assert validate_definition(many_tasks(4)) == [too_many]
    assert validate_definition(many_tasks(2000))[0].message == "a workflow definition is at most 97.7 KB (as JSON)"


def test_the_schema_publishes_the_limits_in_force(settings: Any) -> None:
    settings.KEYFLOW_MAX_TASKS = 42
    limits = load_schema()["x-keyflow-limits"]
    assert limits == {
        "max_document_bytes": 262144,
        "max_document_depth": 64,
        "max_tasks": 42,
        "max_task_nesting": 8,
        "max_expression_length": 1000,
        "max_expression_depth": 24,
    }
    assert "500 tasks" in json.dumps(load_schema()["description"])
