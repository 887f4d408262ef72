"""Every render is bounded in CPU time and in the size of what it builds (issue 17).

Each payload here ran to completion on the earlier sandbox (a 100 MB ``join`` passed the
per-operation caps; ``{% for %}`` nested over ``range`` held a worker for minutes). Now each
fails quickly with a clear ``ExpressionError``; ordinary expressions still render, and the fast
path for plain lookups still hands back the scope's own values.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from typing import Any

import pytest

from workflows.conditions import is_true
from workflows.expressions import (
    STATEMENTS_REFUSED,
    ExpressionError,
    ExpressionTimeout,
    ValueTooLarge,
    check_output_size,
    check_value_size,
    compile_source,
    evaluate,
    render_budget,
    render_value,
)

ONE_MB = "value larger than 1 MB"
SCOPE: dict[str, Any] = {"input": {"name": "ann", "tags": ["a", "b"], "big": "x" * 600_000}}


def _refused(payload: str, error: type[ExpressionError], message: str, scope: dict[str, Any] | None = None) -> None:
    started = time.thread_time()
    with pytest.raises(error) as info:
        render_value(payload, SCOPE if scope is None else scope)
    assert info.value.message == message
    assert time.thread_time() - started < 1.5  # refused, not computed


# --- size -------------------------------------------------------------------------------------------

SIZE_BOMBS = [
    # The payload: 1,000 references to one 100 KB string, joined.
    "{{ (['a' * 100000] * 1000)|join }}",
    "{{ ['a' * 100000] * 1000 }}",
    "{{ (['a' * 100000] * 10)|join('b' * 100000) }}",
    "{{ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000)"
    " ~ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000) ~ ('a' * 100000) }}",
    "{{ input.big + input.big }}",
    "{{ [input.big, input.big] }}",
    "{{ {'a': input.big, 'b': input.big} }}",
    "{{ '%(a)s%(a)s%(a)s' % {'a': input.big} }}",
    "{{ '%(a)s%(a)s%(a)s'|format(a=input.big) }}",
    "{{ '{0}{0}{0}'.format(input.big) }}",
    "{{ '{a}{a}{a}'.format_map({'a': input.big}) }}",
    "{{ ('x\n' * 10000)|indent('y' * 1000) }}",
    "{{ ('x' * 10000)|wordwrap(1, wrapstring='y' * 1000) }}",
    "{{ ('x' * 50000).translate({120: 'y' * 100}) }}",
    "{{ ('y' * 1000).join(['x'] * 5000) }}",
    "{{ input.big ~ input.big }}",
    "Hello {{ input.big }} and {{ input.big }}",
    "{{ range(10000)|map('center', 100000)|list }}",
    "{{ range(10000)|map('center', 100000)|join }}",
    "{{ [[[input.tags] * 100] * 100] * 100 }}",
]


@pytest.mark.parametrize("payload", SIZE_BOMBS)
def test_no_render_builds_a_value_past_the_size_bound(payload: str) -> None:
    _refused(payload, ValueTooLarge, ONE_MB)


def test_a_markup_s_methods_are_guarded_as_str_s_are() -> None:
    """``'a'|safe`` is a Markup, whose methods are Python functions, not str's builtins."""
    _refused(
        "{{ ('a'|safe).center(10**8) }}",
        ExpressionError,
        "the result would be 100000000 characters or items long, over the limit of 100000",
    )


def test_deeply_indented_json_is_measured_before_it_is_built() -> None:
    leaves = [[[[["x"] * 100] * 10] * 10] * 2] * 2  # 40,000 strings, 8 levels down: 200 KB as JSON
    scope = {"input": {"deep": [[[leaves]]]}}
    _refused("{{ input.deep|tojson(indent=1000) }}", ValueTooLarge, ONE_MB, scope)


def test_summing_many_lists_is_refused_before_it_runs() -> None:
    _refused(
        "{{ ([[1] * 10] * 9000)|sum(start=[]) }}",
        ExpressionError,
        "sum over this many lists would take too long; join them with |map or |batch instead",
    )


def test_the_size_bound_follows_the_setting(settings: Any) -> None:
    settings.KEYFLOW_MAX_VALUE_BYTES = 1000
    _refused("{{ 'a' * 600 ~ 'b' * 600 }}", ValueTooLarge, "value larger than 1000 bytes")
    assert render_value("{{ 'a' * 400 ~ 'b' * 400 }}", {}) == "a" * 400 + "b" * 400


def test_a_plain_lookup_of_text_past_the_bound_is_refused(settings: Any) -> None:
    settings.KEYFLOW_MAX_VALUE_BYTES = 100_000
    with pytest.raises(ValueTooLarge):
        render_value("{{ input.big }}", SCOPE)


def test_values_under_the_bound_still_render() -> None:
    assert render_value("{{ (['ab'] * 3)|join('-') }}", {}) == "ab-ab-ab"
    assert render_value("{{ ['a', 'b'] + ['c'] }}", {}) == ["a", "b", "c"]
    assert render_value("{{ 'a' ~ 1 ~ none }}", {}) == "a1None"
    assert render_value("{{ '%s-%s' % (1, 2) }}", {}) == "1-2"
    assert render_value("{{ '%(a)s'|format(a=1) }}", {}) == "1"
    assert render_value("{{ '{0}{0}'.format('x') }}", {}) == "xx"
    assert render_value("{{ ', '.join(input.tags) }}", SCOPE) == "a, b"
    assert render_value("{{ 'x\ny'|indent('> ', true) }}", {}) == "> x\n> y"
    assert render_value("{{ [[1], [2]]|sum(start=[]) }}", {}) == [1, 2]
    assert render_value("{{ {'a': [1, {'b': 2}]}|tojson(indent=2) }}", {}) == (
        '{\n  "a": [\n    1,\n    {\n      "b": 2\n    }\n  ]\n}'
    )
    assert render_value("{{ input.tags|map('upper')|list }}", SCOPE) == ["A", "B"]
    assert render_value("{{ range(3)|map('string')|join(',') }}", {}) == "0,1,2"
    assert len(render_value("{{ input.big }}", SCOPE)) == 600_000


def test_the_fast_path_for_plain_lookups_hands_back_the_scope_s_value() -> None:
    value = object.__new__(type("Marker", (), {}))
    scope = {"input": {"user": {"id": 7, "name": "ann"}, "token": value}, "steps": {"a": {"output": {"n": 3}}}}
    assert compile_source("{{ input.user.name }}").path is not None
    assert render_value("{{ input.user.name }}", scope) == "ann"
    assert render_value("{{ steps.a.output['n'] }}", scope) == 3
    assert compile_source("{{ input.token }}").render(scope) is value
    assert render_value("{{ input.user }}", scope) == {"id": 7, "name": "ann"}


def test_check_output_size_refuses_a_step_output_past_the_bound() -> None:
    check_output_size({"body": "x" * 1000})
    with pytest.raises(ValueTooLarge) as info:
        check_output_size({"items": ["x" * 1000] * 2000})
    assert info.value.message == "output larger than 1 MB"
    with pytest.raises(ValueTooLarge) as info:
        check_value_size("x" * 5000, max_bytes=4096)
    assert info.value.message == "value larger than 4 KB"


def test_measuring_a_huge_output_costs_no_more_than_the_bound() -> None:
    shared = ["x" * 100] * 1000
    output = [shared] * 1_000_000  # 100 GB as JSON; a million references in memory
    started = time.thread_time()
    with pytest.raises(ValueTooLarge):
        check_output_size(output)
    assert time.thread_time() - started < 0.5


# --- statements ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "{% for a in range(10000) %}{% for b in range(10000) %}{% for c in range(10000) %}x{% endfor %}"
        "{% endfor %}{% endfor %}{{ 1 }}",
        "{% set x = 1 %}{{ x }}",
        "{% if true %}a{% endif %}{{ 1 }}",
        "{% raw %}{{ 1 }}{% endraw %}{{ 2 }}",
        "{{ 1 }}{%- if true -%}a{%- endif -%}",
    ],
)
def test_statements_are_refused(payload: str) -> None:
    _refused(payload, ExpressionError, STATEMENTS_REFUSED)


def test_statement_markers_inside_a_string_literal_are_text() -> None:
    assert render_value("{{ '{% not a statement %}' }}", {}) == "{% not a statement %}"


# --- CPU time ---------------------------------------------------------------------------------------------

SLOW = "{{ range(10000)|map('string')|map('center', 50)|map('trim')|map('upper')|map('lower')|list|length }}"


def test_a_render_past_its_cpu_time_fails_cleanly() -> None:
    with pytest.raises(ExpressionTimeout) as info:
        render_value(SLOW, {}, timeout=0.002)
    assert info.value.message == "expression exceeded 0.002 s"
    assert render_value(SLOW, {}) == 10000  # within the default second


def test_the_default_timeout_follows_the_setting(settings: Any) -> None:
    settings.KEYFLOW_EXPRESSION_TIMEOUT = 0.002
    with pytest.raises(ExpressionTimeout) as info:
        render_value(SLOW, {})
    assert info.value.message == "expression exceeded 0.002 s"


def test_one_budget_covers_every_render_inside_it() -> None:
    with pytest.raises(ExpressionTimeout), render_budget(timeout=0.01):
        for _ in range(200):
            render_value({"a": SLOW, "b": "{{ input.name|upper }}"}, SCOPE)


def test_the_timer_interrupts_what_no_check_reaches() -> None:
    """A catastrophic regular expression in a condition runs in C: only the timer stops it."""
    condition = {"left": "a" * 40 + "b", "op": "matches", "right": "^(a+)+$"}
    started = time.thread_time()
    with pytest.raises(ExpressionTimeout), render_budget(timeout=0.2):
        is_true(condition, {})
    assert time.thread_time() - started < 2
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)  # disarmed


def test_a_render_in_another_thread_is_timed_too() -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            render_value(SLOW, {}, timeout=0.002)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert [type(e) for e in errors] == [ExpressionTimeout]


def test_after_a_timeout_rendering_goes_on_normally() -> None:
    with pytest.raises(ExpressionTimeout):
        evaluate("range(10000)|map('string')|map('center', 50)|list|length > 1", {}, timeout=0.001)
    assert evaluate("input.name == 'ann'", SCOPE) is True
    assert render_value("{{ input.name }}!", SCOPE) == "ann!"
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


# --- expression length and depth ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{{ " + "(" * 300 + "1" + ")" * 300 + " }}", "nested deeper than 24 levels"),
        ("{{ 1" + "|string" * 1000 + " }}", "nested deeper than 24 levels"),
        ("{{ " + "+".join(["1"] * 3000) + " }}", "nested deeper than 24 levels"),
        ("{{ '" + "x" * 2000 + "' }}", "longer than 1000 characters"),
        ("{{ " + ", ".join(["1"] * 400) + " }}", "longer than 1000 characters"),
        ("{{ " + "+".join(["1"] * 100) + " }}", "nested deeper than 24 levels"),
        ("{{ x" + ".a" * 30 + " }}", "nested deeper than 24 levels"),
        ("{{ " + "not " * 30 + "1 }}", "nested deeper than 24 levels"),
        ("(" * 300 + "1" + ")" * 300, "nested deeper than 24 levels"),
        ("{{ " + "(" * 300, "nested deeper than 24 levels"),
    ],
)
def test_long_and_deep_expressions_are_refused_before_they_are_parsed(payload: str, message: str) -> None:
    started = time.thread_time()
    with pytest.raises(ExpressionError) as info:
        evaluate(payload, {}) if "{{" not in payload else render_value(payload, {})
    assert message in info.value.message
    assert time.thread_time() - started < 0.5


def test_expressions_at_the_limits_still_work() -> None:
    deep = "(" * 23 + "1" + ")" * 23
    assert render_value("{{ " + deep + " }}", {}) == 1
    assert render_value("{{ " + "+".join(["1"] * 24) + " }}", {}) == 24
    assert render_value("{{ [" + ", ".join(["input.name|upper"] * 50) + "]|length }}", SCOPE) == 50
    text = "Dear {{ input.name }}, " * 300  # many short expressions: each is measured on its own
    assert render_value(text, SCOPE).count("ann") == 300


def test_the_limits_follow_the_settings(settings: Any) -> None:
    settings.KEYFLOW_MAX_EXPRESSION_DEPTH = 3
    settings.KEYFLOW_MAX_EXPRESSION_LENGTH = 20
    with pytest.raises(ExpressionError, match=re.escape("nested deeper than 3 levels")):
        evaluate("a.b.c.d.e", {})
    with pytest.raises(ExpressionError, match=re.escape("longer than 20 characters")):
        evaluate("'" + "x" * 30 + "'", {})
