"""The expression sandbox: known escape payloads and resource bombs fail with a clear error.

Every payload is rendered the way the runner renders a param; each must raise
``ExpressionError`` with exactly the message below (so a Jinja upgrade that changes what is
refused shows up here), and none may reach Python internals or hang the worker.
"""

from __future__ import annotations

import time

import pytest

from workflows.expressions import (
    MAX_LENGTH,
    MAX_RANGE,
    STATEMENTS_REFUSED,
    ExpressionError,
    UndefinedValueError,
    evaluate,
    render_value,
)

SCOPE = {
    "input": {"name": "ann", "tags": ["a", "b"]},
    "event": {"user": {"id": 7, "department": "Sales"}},
    "steps": {},
    "x": {"a": 1},
}

UNSAFE = "not allowed: access to attribute {attr!r} of {type!r} object is unsafe."
NO_LOADING = STATEMENTS_REFUSED  # include, import and extends are statements


def too_long(size: int) -> str:
    return f"the result would be {size} characters or items long, over the limit of {MAX_LENGTH}"


PAYLOADS = [
    # Classic object-graph walks to os/subprocess.
    ("{{ ''.__class__.__mro__[1].__subclasses__() }}", ExpressionError, UNSAFE.format(attr="__class__", type="str")),
    ("{{ ''.__class__ }}", ExpressionError, UNSAFE.format(attr="__class__", type="str")),
    ("{{ x.__class__ }}", ExpressionError, UNSAFE.format(attr="__class__", type="dict")),
    ("{{ x['__class__'] }}", ExpressionError, UNSAFE.format(attr="__class__", type="dict")),
    ("{{ input.tags.__class__.__base__ }}", ExpressionError, UNSAFE.format(attr="__class__", type="list")),
    ("{{ (1).__class__.__subclasses__() }}", ExpressionError, UNSAFE.format(attr="__class__", type="int")),
    # Jinja's own globals are gone: nothing to climb from.
    ("{{ cycler.__init__.__globals__ }}", UndefinedValueError, "undefined name 'cycler'"),
    ("{{ lipsum.__globals__ }}", UndefinedValueError, "undefined name 'lipsum'"),
    ("{{ joiner.__init__.__globals__.os }}", UndefinedValueError, "undefined name 'joiner'"),
    ("{{ namespace.__init__.__globals__ }}", UndefinedValueError, "undefined name 'namespace'"),
    # Keyflow's own globals are functions: their internals are refused too.
    ("{{ now.__globals__ }}", ExpressionError, UNSAFE.format(attr="__globals__", type="function")),
    ("{{ days_since.__code__ }}", ExpressionError, UNSAFE.format(attr="__code__", type="function")),
    ("{{ range.__globals__ }}", ExpressionError, UNSAFE.format(attr="__globals__", type="function")),
    # The template reference and its context.
    (
        "{{ self._TemplateReference__context }}",
        ExpressionError,
        UNSAFE.format(attr="_TemplateReference__context", type="TemplateReference"),
    ),
    ("{{ self }}", ExpressionError, "the value is a TemplateReference, which is not data (JSON)"),
    # str.format reaches attributes through the field syntax.
    ("{{ ''.format.__self__ }}", UndefinedValueError, "'function object' has no attribute '__self__'"),
    ("{{ 'a{0.__class__}'.format(1) }}", ExpressionError, UNSAFE.format(attr="__class__", type="int")),
    ("{{ '{0.__globals__}'.format(now) }}", ExpressionError, UNSAFE.format(attr="__globals__", type="function")),
    ("{{ 'x'.format_map.__self__ }}", UndefinedValueError, "'function object' has no attribute '__self__'"),
    # Flask/Django payloads: there is no request, config or settings in scope.
    ("{{ request }}", UndefinedValueError, "undefined name 'request'"),
    ("{{ config }}", UndefinedValueError, "undefined name 'config'"),
    ("{{ settings.SECRET_KEY }}", UndefinedValueError, "undefined name 'settings'"),
    ("{{ config.__class__.__init__.__globals__['os'] }}", UndefinedValueError, "undefined name 'config'"),
    # The immutable sandbox refuses mutation of scope data.
    ("{{ [].append(1) }}", ExpressionError, UNSAFE.format(attr="append", type="list")),
    ("{{ input.tags.append('c') }}", ExpressionError, UNSAFE.format(attr="append", type="list")),
    ("{{ {}.update(a=1) }}", ExpressionError, UNSAFE.format(attr="update", type="dict")),
    ("{{ x.pop('a') }}", ExpressionError, UNSAFE.format(attr="pop", type="dict")),
    ("{{ x.clear() }}", ExpressionError, UNSAFE.format(attr="clear", type="dict")),
    # No template loading.
    ("{% include '/etc/passwd' %}{{ 1 }}", ExpressionError, NO_LOADING),
    ("{% import 'os' as os %}{{ os }}", ExpressionError, NO_LOADING),
    ("{% extends 'base' %}{{ 1 }}", ExpressionError, NO_LOADING),
    # Resource bombs: refused before they allocate.
    ("{{ range(10**9)|list }}", ExpressionError, f"range() of 1000000000 items is over the limit of {MAX_RANGE}"),
    ("{{ range(10**9)|length }}", ExpressionError, f"range() of 1000000000 items is over the limit of {MAX_RANGE}"),
    ("{{ 10**1000000 }}", ExpressionError, "10 ** 1000000 is too large a number"),
    ("{{ 'a' * 10**9 }}", ExpressionError, too_long(1000000000)),
    ("{{ [0] * 10**9 }}", ExpressionError, too_long(1000000000)),
    ("{{ 10**9 * 'a' }}", ExpressionError, too_long(1000000000)),
    ("{{ '{:999999999}'.format(1) }}", ExpressionError, too_long(999999999)),
    ("{{ '{:{}}'.format(1, 10**9) }}", ExpressionError, "nested format specs are not allowed"),
    ("{{ '%999999999d' % 1 }}", ExpressionError, too_long(999999999)),
    ("{{ '%*d' % (10**9, 1) }}", ExpressionError, "'*' widths are not allowed in % formatting"),
    ("{{ '%999999999d'|format(1) }}", ExpressionError, too_long(999999999)),
    ("{{ 'a'.center(10**9) }}", ExpressionError, too_long(1000000000)),
    ("{{ 'a'.ljust(10**9) }}", ExpressionError, too_long(1000000000)),
    ("{{ 'a'.zfill(10**9) }}", ExpressionError, too_long(1000000000)),
    ("{{ 'a'|center(10**9) }}", ExpressionError, too_long(1000000000)),
    ("{{ 'a'|indent(10**9, true) }}", ExpressionError, too_long(1000000000)),
    ("{{ [1]|batch(10**9, 0)|list }}", ExpressionError, too_long(1000000000)),
    ("{{ [1]|slice(10**9)|list }}", ExpressionError, too_long(1000000000)),
    ("{{ ('a' * 1000)|replace('', 'b' * 1000) }}", ExpressionError, too_long(1002000)),
    ("{{ ('a' * 1000).replace('', 'b' * 1000) }}", ExpressionError, too_long(1002000)),
    ("{{ '\t'.expandtabs(10**9) }}", ExpressionError, too_long(1000000001)),
]


@pytest.mark.parametrize(("payload", "error", "message"), PAYLOADS, ids=[p[0] for p in PAYLOADS])
def test_payload_is_refused_with_a_clear_error(payload: str, error: type[ExpressionError], message: str) -> None:
    started = time.monotonic()
    with pytest.raises(error) as info:
        render_value(payload, SCOPE)
    assert info.value.message == message
    assert time.monotonic() - started < 1.0  # refused, not computed


@pytest.mark.parametrize(
    "payload",
    ["''.__class__", "x.__class__", "[].append(1)", "cycler.__init__.__globals__", "range(10**9)|list"],
)
def test_conditions_get_the_same_sandbox(payload: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(payload, SCOPE)


def test_in_mixed_text_a_refused_attribute_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(ExpressionError) as info:
        render_value("Hello {{ ''.__class__ }}!", SCOPE)
    assert info.value.message == UNSAFE.format(attr="__class__", type="str")


def test_in_mixed_text_the_template_reference_renders_harmlessly() -> None:
    assert render_value("x {{ self }}", SCOPE) == "x <TemplateReference None>"


def test_scope_data_is_not_changed_by_a_refused_mutation() -> None:
    scope = {"input": {"tags": ["a"]}}
    with pytest.raises(ExpressionError):
        render_value("{{ input.tags.append('b') }}", scope)
    assert scope == {"input": {"tags": ["a"]}}


def test_safe_str_methods_and_sizes_under_the_limits_still_work() -> None:
    assert render_value("{{ 'a,b'.split(',') }}", SCOPE) == ["a", "b"]
    assert render_value("{{ '{:>5}'.format('ab') }}", SCOPE) == "   ab"
    assert render_value("{{ '%05d' % 42 }}", SCOPE) == "00042"
    assert render_value("{{ 'ab' * 3 }}", SCOPE) == "ababab"
    assert render_value("{{ 2 ** 10 }}", SCOPE) == 1024
    assert render_value("{{ range(3)|list }}", SCOPE) == [0, 1, 2]
    assert render_value("{{ 'x'|center(5) }}", SCOPE) == "  x  "
    assert render_value("{{ 'aXa'|replace('X', 'yy') }}", SCOPE) == "ayya"
    assert render_value("{{ input.tags|batch(1)|list }}", SCOPE) == [["a"], ["b"]]
    assert render_value("{{ input.tags.index('b') }}", SCOPE) == 1
