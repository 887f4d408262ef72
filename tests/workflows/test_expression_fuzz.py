"""Fuzzing the expression sandbox: whatever an admin writes, a render either gives a value within
the size bound or fails with ``ExpressionError``, within about its CPU timeout.

A fixed budget (derandomized, a set number of examples, no example database) keeps it a few
seconds long and the same on every run, so it can run in ``make test``.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflows.bounds import value_size
from workflows.expressions import ExpressionError, evaluate, render_value

MAX_BYTES = 64 * 1024
TIMEOUT = 0.2
SCOPE: dict[str, Any] = {
    "input": {
        "name": "Ann",
        "n": 12,
        "tags": ["a", "b", "c"],
        "big": "x" * 40_000,
        "users": [{"id": i, "name": f"u{i}", "dept": "Sales" if i % 2 else "IT"} for i in range(200)],
        "nested": {"a": [{"b": [1, 2, {"c": "d"}]}]},
    },
    "steps": {"first": {"output": {"id": 7, "items": list(range(100))}, "status": "succeeded"}},
}

ATOMS = st.sampled_from(
    [
        "1",
        "7",
        "-3",
        "2.5",
        "100000",
        "'a'",
        "'ab' * 3",
        "'%s%s'",
        "'{0}{0}{0}'",
        "'x\\ny'",
        "none",
        "true",
        "input.name",
        "input.n",
        "input.tags",
        "input.big",
        "input.users",
        "input.nested",
        "steps.first.output.items",
        "range(50)",
        "range(10000)",
        "[1, 2, 3]",
        "{'k': 'v'}",
        "now()",
    ]
)
BINARY = st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "~", "==", "<", "and", "or", "in"])
FILTERS = st.sampled_from(
    [
        "join",
        "join(input.big)",
        "list",
        "string",
        "upper",
        "tojson",
        "tojson(indent=40)",
        "center(5000)",
        "indent(input.big)",
        "indent('xx', true)",
        "wordwrap(1, wrapstring='--')",
        "replace('a', 'bbbbbbbb')",
        "replace('', '-')",
        "format(input.big, input.big)",
        "sum",
        "sum(start=[])",
        "unique",
        "sort",
        "reverse",
        "first",
        "last",
        "length",
        "batch(3, input.big)",
        "slice(3)",
        "map('string')",
        "map('center', 3000)",
        "map(attribute='name')",
        "select",
        "selectattr('dept', 'equalto', 'IT')",
        "groupby('dept')",
        "dictsort",
        "items",
        "min",
        "max",
        "int",
        "round",
        "default('d')",
        "truncate(5)",
        "title",
        "escape",
        "urlize",
        "urlencode",
        "xmlattr",
        "wordcount",
    ]
)
METHODS = st.sampled_from(
    [
        "join(input.tags)",
        "format(input.big, input.big)",
        "format_map({'a': input.big})",
        "center(90000)",
        "replace('x', 'yyyy')",
        "split()",
        "translate({120: 'zzzzzzzz'})",
        "upper()",
        "zfill(50000)",
    ]
)


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.tuples(children, BINARY, children).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(children, FILTERS).map(lambda t: f"({t[0]})|{t[1]}"),
        st.tuples(children, METHODS).map(lambda t: f"({t[0]}).{t[1]}"),
        st.tuples(children, st.integers(0, 200_000)).map(lambda t: f"({t[0]}) * {t[1]}"),
        st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        st.tuples(children, children, children).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
    )


EXPRESSIONS = st.recursive(ATOMS, _combine, max_leaves=10)
SOURCES = st.one_of(
    EXPRESSIONS.map(lambda e: "{{ " + e + " }}"),
    st.lists(EXPRESSIONS, min_size=1, max_size=3).map(lambda es: "Hi " + " and ".join("{{ " + e + " }}" for e in es)),
)

BUDGET = settings(
    max_examples=250,
    derandomize=True,
    database=None,
    deadline=None,  # the render's own timeout is what is under test; see the assertion below
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _bounded(render: Any) -> None:
    started = time.thread_time()
    try:
        result = render()
    except ExpressionError:
        pass
    else:
        assert value_size(result, MAX_BYTES * 2) <= MAX_BYTES + 2
    # The deadline is checked at every operation; the slowest single operation the guards let
    # through (a sort or a size walk of a bounded value) is a few milliseconds.
    assert time.thread_time() - started < TIMEOUT + 0.5


@BUDGET
@given(source=SOURCES)
def test_every_render_stays_within_its_bounds(source: str) -> None:
    _bounded(lambda: render_value(source, SCOPE, timeout=TIMEOUT, max_bytes=MAX_BYTES))


@BUDGET
@given(expression=EXPRESSIONS)
def test_every_condition_stays_within_its_bounds(expression: str) -> None:
    _bounded(lambda: evaluate(expression, SCOPE, timeout=TIMEOUT, max_bytes=MAX_BYTES))
