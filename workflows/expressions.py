"""Templated values and expressions in workflow documents: Jinja2 in an immutable sandbox.

Why Jinja2 in a sandbox: admins write expressions, and a workflow runs with a run-as role's
rights inside a worker; an expression must be able to read the data it is given and nothing
else of the Python process. ``ImmutableSandboxedEnvironment`` refuses attributes that start
with ``_``, Python internals (``mro``, ``__globals__``…), calls that mutate lists, dicts and
sets, and unsafe ``str.format`` fields. On top of it this module bounds what a render may cost
(CPU time and the size of every value it builds: see ``workflows.bounds``), drops Jinja's
``lipsum``/``cycler``/``joiner``/``namespace``/``pprint``, and refuses statements: a value is
text with ``{{ expressions }}``, never ``{% for %}``, ``{% set %}`` or ``{% include %}``, so the
only loops are filters over data that is already there. An expression longer than
``KEYFLOW_MAX_EXPRESSION_LENGTH`` characters or nested deeper than
``KEYFLOW_MAX_EXPRESSION_DEPTH`` (brackets, and chained operators, filters and lookups) is
refused before it is parsed, since Jinja's parser and compiler recurse once per level.

How a string is read (``render_value``):

* no ``{{`` in it: a literal, returned as is;
* exactly one ``{{ expr }}`` (whitespace inside and around the braces is allowed): the
  expression's native value — list, dict, number, bool, None. ``render_value`` makes it
  JSON-safe (dates and datetimes become ISO strings, tuples, ranges and generators become
  lists) because rendered params are stored and handed to actions as JSON;
* anything else with ``{{`` in it (text around ``{{ }}``, several ``{{ }}``): a string.

``when``/``if`` take an expression with or without braces (``evaluate``); text around
``{{ }}`` is refused there, because a non-empty string is always true and that is never
what the admin meant.

Undefined names and attributes are errors naming what is missing (``undefined name 'inpt'``,
``'event.user' has no attribute 'departmnt'``), never silent empties; ``x is defined`` and
``x|default(...)`` still work as Jinja intends. A key of a dict wins over a dict method of
the same name, so ``input.items`` reads the ``items`` field of the input.

Names in scope at run time (``SCOPE_NAMES``): ``input``, ``event``, ``steps`` (``steps.<task>.
output`` / ``.status``), ``workflow``, ``execution``, and the loop variables of the enclosing
``for`` tasks. Globals and filters an IT admin needs, besides Jinja's built-in filters
(``lower``, ``upper``, ``default``, ``join``, ``map``, ``select``, ``length``…):

* ``now()`` — the current time, an aware UTC datetime; ``today()`` — today's UTC date;
* ``to_datetime(value)`` / ``value|to_datetime`` — an ISO string, date, datetime or Unix
  timestamp as an aware datetime (naive values are taken as UTC);
* ``to_date(value)`` / ``value|to_date`` — the same as a date;
* ``days_since(value)`` / ``value|days_since`` — whole days from ``value`` to now
  (``event.user.hire_date|days_since > 90``);
* ``days_until(value)`` / ``value|days_until`` — whole days from now to ``value``;
* ``add_days(value, n)`` / ``value|add_days(n)`` — a date (for a date) or datetime plus
  ``n`` days, e.g. ``{{ event.user.hire_date|add_days(90) }}`` for a termination date;
* ``email_domain(value)`` / ``value|email_domain`` — ``"Ann@Example.com"`` → ``"example.com"``;
* ``range(...)`` (at most ``MAX_RANGE`` items) and ``dict(...)``.

Compiled templates and expressions are cached by source text, so a workflow version's
expressions compile once per process however many executions run them.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Iterator, MappingView
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, NoReturn

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.environment import Template, TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.meta import find_undeclared_variables
from jinja2.parser import Parser
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing, object_type_repr

from workflows import bounds
from workflows.bounds import (
    MAX_LENGTH,
    MAX_RANGE,
    check_output_size,
    check_value_size,
    current_budget,
    render_budget,
)
from workflows.expression_errors import ExpressionError, ExpressionTimeout, UndefinedValueError, ValueTooLarge

__all__ = [
    "GLOBAL_NAMES",
    "MAX_LENGTH",
    "MAX_RANGE",
    "RESERVED_NAMES",
    "SCOPE_NAMES",
    "STATEMENTS_REFUSED",
    "Compiled",
    "ExpressionError",
    "ExpressionTimeout",
    "UndefinedValueError",
    "ValueTooLarge",
    "add_days",
    "check_output_size",
    "check_syntax",
    "check_value_size",
    "compile_source",
    "days_since",
    "days_until",
    "email_domain",
    "evaluate",
    "expression_limit_problem",
    "is_single_expression",
    "is_template",
    "iter_templates",
    "now",
    "referenced_steps",
    "render_budget",
    "render_value",
    "to_date",
    "to_datetime",
    "today",
    "undeclared_names",
]

# The names the runner puts in scope (loop variables come on top).
SCOPE_NAMES = frozenset({"input", "event", "steps", "workflow", "execution"})

_CACHE_SIZE = 4096


# --- clock and date helpers -----------------------------------------------------------------


def now() -> dt.datetime:
    """The current time as an aware UTC datetime (``now()`` in expressions)."""
    return dt.datetime.now(dt.UTC)


def today() -> dt.date:
    """Today's date in UTC (``today()`` in expressions)."""
    return now().date()


_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def to_datetime(value: Any) -> dt.datetime:
    """``value`` as an aware datetime, so dates from events, params and ``now()`` compare.

    Accepts a datetime, a date (midnight UTC), an ISO 8601 string (``Z`` allowed) or a Unix
    timestamp; naive values are taken as UTC, the directory's convention.
    """
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return dt.datetime.fromtimestamp(value, dt.UTC)
        except (OverflowError, OSError, ValueError):
            pass
    if isinstance(value, str):
        try:
            return to_datetime(dt.datetime.fromisoformat(value.strip()))
        except ValueError:
            pass
    raise ExpressionError(f"{value!r} is not a date or time")


def to_date(value: Any) -> dt.date:
    """``value`` as a date (the UTC date of a datetime); accepts what ``to_datetime`` does."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    return to_datetime(value).astimezone(dt.UTC).date()


def days_since(value: Any) -> int:
    """Whole days from ``value`` to now: how long ago someone was hired or last seen."""
    return (now() - to_datetime(value)).days


def days_until(value: Any) -> int:
    """Whole days from now to ``value``: how soon a contract ends or a password expires."""
    return (to_datetime(value) - now()).days


def add_days(value: Any, days: int | float) -> dt.date | dt.datetime:
    """``value`` plus ``days`` days, a date for a date and a datetime otherwise.

    Keeping the kind means ``{{ event.user.hire_date|add_days(90) }}`` renders ``2025-04-01``,
    which a date param such as ``termination_date`` accepts.
    """
    is_date = (isinstance(value, dt.date) and not isinstance(value, dt.datetime)) or (
        isinstance(value, str) and bool(_DATE_ONLY.match(value.strip()))
    )
    if is_date:
        return to_date(value) + dt.timedelta(days=days)
    return to_datetime(value) + dt.timedelta(days=days)


def email_domain(value: Any) -> str:
    """The domain of an email address, lowercased: route people by company or contractor firm."""
    if not isinstance(value, str) or "@" not in value:
        raise ExpressionError(f"{value!r} is not an email address")
    return value.rsplit("@", 1)[1].strip().lower()


def _capped_range(*args: int) -> range:
    """``range()`` with at most ``MAX_RANGE`` items: ``range(10**9)|list`` must not hang a worker."""
    rng = range(*args)
    if len(rng) > MAX_RANGE:
        raise ExpressionError(f"range() of {len(rng)} items is over the limit of {MAX_RANGE}")
    return rng


_HELPERS: dict[str, Callable[..., Any]] = {
    "to_datetime": to_datetime,
    "to_date": to_date,
    "days_since": days_since,
    "days_until": days_until,
    "add_days": add_days,
    "email_domain": email_domain,
}
_GLOBALS: dict[str, Any] = {"now": now, "today": today, "range": _capped_range, "dict": dict, **_HELPERS}

GLOBAL_NAMES = frozenset(_GLOBALS)

# Names a loop variable may not take: it would hide a scope name or global, or Jinja reads
# the word as something else (``true``, ``loop``, ``self``…).
RESERVED_NAMES = (
    SCOPE_NAMES
    | GLOBAL_NAMES
    | frozenset(
        {"self", "loop", "true", "false", "none", "True", "False", "None"}
        | {"and", "or", "not", "in", "is", "if", "else", "recursive"}
    )
)


# --- the environment --------------------------------------------------------------------------


class _MissingValue(UndefinedError):
    """Raised by ``_StrictUndefined``, carrying what was read and from what, so the message can
    name the path in the scope (``'event.user' has no attribute 'x'``)."""

    def __init__(self, undefined: _StrictUndefined) -> None:
        super().__init__(undefined._undefined_message)
        self.hint = undefined._undefined_hint
        self.obj = undefined._undefined_obj
        self.name = undefined._undefined_name


class _StrictUndefined(StrictUndefined):
    """StrictUndefined whose errors carry the object and name, and whose sandbox refusals stay
    ``SecurityError``."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> NoReturn:
        if self._undefined_exception is UndefinedError:
            raise _MissingValue(self)
        raise self._undefined_exception(self._undefined_message)


# Undefined and StrictUndefined alias their operators to the base class's failing method, so a
# subclass must re-point them at its own.
for _cls in (Undefined, StrictUndefined):
    for _name, _value in list(vars(_cls).items()):
        if _value is Undefined._fail_with_undefined_error and _name != "_fail_with_undefined_error":
            setattr(_StrictUndefined, _name, _StrictUndefined._fail_with_undefined_error)


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox plus the render's bounds (``workflows.bounds``), dict keys before dict
    methods, and no loader. Every operator, lookup and call it intercepts is a tick of the
    render's CPU deadline."""

    intercepted_binops = frozenset(bounds.BINOP_GUARDS)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        budget = current_budget()
        budget.tick()
        bounds.BINOP_GUARDS[operator](left, right, budget)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        current_budget().tick()
        # ``input.items`` means the input's ``items`` field, not ``dict.items``.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        if isinstance(obj, Undefined):  # report the missing name, not the Undefined's internals
            obj._fail_with_undefined_error()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        current_budget().tick()
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__
        is_format_map = value.__name__ == "format_map"

        @functools.wraps(wrapped)
        def checked(*args: Any, **kwargs: Any) -> str:
            mapping = args[0] if is_format_map and args and isinstance(args[0], dict) else kwargs
            bounds.check_str_format(fmt, () if is_format_map else args, mapping, current_budget())
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):  # str methods, Markup's too (Python functions, not builtins)
            guard = _STR_METHOD_GUARDS.get(getattr(__obj, "__name__", ""))
            if guard is not None:
                replacement = guard(owner, *args, **kwargs)
                if replacement is not None:
                    args = (replacement, *args[1:])
        return budget.bounded(super().call(__context, __obj, *args, **kwargs))


# ``sep.join(items)`` is measured like the ``join`` filter (the items are read into a list first).
_STR_METHOD_GUARDS: dict[str, Callable[..., Any]] = {**bounds.STR_METHOD_GUARDS, "join": bounds.guard_str_join}


def _bounded_filter(original: Callable[..., Any], guard: Callable[..., Any] | None) -> Callable[..., Any]:
    """A filter that ticks the deadline, runs its guard (if it has one) first and has its result
    checked against the size bound. Filters marked ``pass_eval_context``/``pass_environment`` get
    that object first; the wrapper keeps the mark (``functools.wraps`` copies it) and skips it."""
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        budget = current_budget()
        budget.tick()
        if guard is not None and len(args) > skip:
            replacement = guard(*args[skip:], **kwargs)
            if replacement is not None:
                args = (*args[:skip], replacement, *args[skip + 1 :])
        return budget.bounded(original(*args, **kwargs))

    return wrapper


def _sized(items: Any) -> Any:
    """A list, tuple or dict the expression writes out (``[a, b]``, ``{'k': v}``): refused before it
    exists when what it gathers is larger than the bound, since every part may be near the bound."""
    current_budget().check_size(items)
    return items


def _concat(parts: list[Any]) -> str:
    """``a ~ b``: measured before the text is built."""
    budget = current_budget()
    budget.check_total(sum(bounds.text_size(part, budget.max_bytes) for part in parts))
    return "".join(map(str, parts))


def _finalize(value: Any) -> Any:
    """Each ``{{ }}`` of a text template, before it is turned into text."""
    current_budget().check_size(value)
    return value


# Filters the compiler puts around list, tuple and dict literals and ``~`` (see ``_bound_literals``).
_SIZED_FILTER = "_keyflow_sized"
_CONCAT_FILTER = "_keyflow_concat"
# Jinja filters an admin has no use for and whose output can grow with the data's depth.
_DROPPED_FILTERS = ("pprint",)


def _make_environment() -> _Sandbox:
    env = _Sandbox(undefined=_StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize)
    env.globals.clear()
    env.globals.update(_GLOBALS)
    env.filters.update(_HELPERS)
    for name in _DROPPED_FILTERS:
        del env.filters[name]
    for name, original in list(env.filters.items()):
        env.filters[name] = _bounded_filter(original, bounds.FILTER_GUARDS.get(name))
    env.filters.update({_SIZED_FILTER: _sized, _CONCAT_FILTER: _concat})
    return env


_ENV = _make_environment()


# --- parsing ------------------------------------------------------------------------------------


def is_template(value: Any) -> bool:
    """Whether ``value`` is a string Keyflow renders (it contains ``{{``); others are literals."""
    return isinstance(value, str) and "{{" in value


def iter_templates(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every template string inside ``value`` (walking dicts and lists) with its DSL path
    (``with.attributes.team``, ``right[0]``), for checks that read each expression once."""
    if is_template(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_templates(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_templates(item, f"{path}[{index}]")


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = exc.message or "syntax error"
    return f"{message} (line {exc.lineno})" if exc.lineno and exc.lineno > 1 else message


STATEMENTS_REFUSED = (
    "statements ({% %}) are not allowed: a value is text with {{ expressions }} "
    "(use a filter, or 'a if condition else b')"
)
_STATEMENT_TOKENS = frozenset({"block_begin", "raw_begin", "linestatement_begin"})
_OPENERS = frozenset("([{")
_CLOSERS = frozenset(")]}")
_SEPARATORS = frozenset({",", ":", "=", ";"})
_OPERATOR_WORDS = frozenset({"and", "or", "not", "in", "is", "if", "else"})


def expression_limit_problem(source: str) -> str | None:
    """Why ``source`` is refused before it is parsed, or None: it holds a statement, or one of its
    expressions is longer than ``KEYFLOW_MAX_EXPRESSION_LENGTH`` characters or deeper than
    ``KEYFLOW_MAX_EXPRESSION_DEPTH``.

    Read from Jinja's lexer, which does not recurse, because the parser and the compiler recurse
    once per level: a 600-character parenthesised expression or a 3,000-term sum would raise
    ``RecursionError`` there. Depth counts each open bracket and each chained operator, filter
    or lookup (``a.b|c + d`` is 4 deep); a comma starts a new item at its level.
    """
    max_length, max_depth = bounds.expression_length_limit(), bounds.expression_depth_limit()
    bare = not is_template(source)
    inside, length = bare, 0
    levels = [0]  # chained operators at each open bracket level
    chained = 0  # sum(levels)
    try:
        for _lineno, token, value in _ENV.lexer.tokeniter(source, None, state="variable" if bare else None):
            if token in _STATEMENT_TOKENS:
                return STATEMENTS_REFUSED
            if token == "variable_begin":
                inside, length, levels, chained = True, 0, [0], 0
                continue
            if token == "variable_end":
                inside = False
                continue
            if not inside:
                continue
            length += len(value)
            if length > max_length:
                return f"expression is longer than {max_length} characters"
            if token == "operator":
                if value in _OPENERS:
                    levels.append(0)
                elif value in _CLOSERS:
                    if len(levels) > 1:
                        chained -= levels.pop()
                elif value in _SEPARATORS:
                    chained -= levels[-1]
                    levels[-1] = 0
                else:
                    levels[-1] += 1
                    chained += 1
            elif token == "name" and value in _OPERATOR_WORDS:
                levels[-1] += 1
                chained += 1
            else:
                continue
            if chained + len(levels) - 1 > max_depth:
                return f"expression is nested deeper than {max_depth} levels (brackets and chained operators)"
    except TemplateSyntaxError:
        return None  # the parser reports it, before it gets any deeper than this did
    return None


def _parse(source: str) -> nodes.Template:
    """The AST of ``source``: a template when it contains ``{{``, otherwise a bare expression
    (wrapped as ``{{ expr }}``). Raises ``ExpressionError`` when it does not parse, holds a
    statement, or is past the length and depth limits."""
    problem = expression_limit_problem(source)
    if problem:
        raise ExpressionError(problem, source=source)
    try:
        if is_template(source):
            ast = _ENV.parse(source)
        else:
            parser = Parser(_ENV, source, state="variable")
            expr = parser.parse_expression()
            if not parser.stream.eos:
                raise TemplateSyntaxError(
                    f"unexpected {parser.stream.current.value!r} after the expression",
                    parser.stream.current.lineno,
                )
            ast = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
            ast.set_environment(_ENV)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not parse: {_syntax_message(exc)}", source=source) from None
    if not all(isinstance(node, nodes.Output) for node in ast.body):
        raise ExpressionError(STATEMENTS_REFUSED, source=source)
    return ast


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _analysis(source: str) -> nodes.Template | ExpressionError:
    """Cached AST (or the parse error) for the static checks the validator runs on every save."""
    try:
        return _parse(source)
    except ExpressionError as exc:
        return exc


def _single_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression of a template that is one ``{{ expr }}`` and whitespace, else None."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    parts = [node for node in ast.body[0].nodes if not (isinstance(node, nodes.TemplateData) and not node.data.strip())]
    if len(parts) == 1 and not isinstance(parts[0], nodes.TemplateData):
        return parts[0]
    return None


def check_syntax(source: str) -> str | None:
    """Why ``source`` does not parse, in plain words, or None when it does.

    A source with ``{{`` is read as a template, one without as a bare expression (the form
    ``when``/``if`` accept). The validator calls this on every expression of a document.
    """
    result = _analysis(source)
    if isinstance(result, ExpressionError):
        return result.message.removeprefix("does not parse: ")
    try:  # compiling finds unknown filters and tests; the result is cached for the runner
        compile_source(source) if is_template(source) else _compile_condition(source)
    except ExpressionError as exc:
        return exc.message.removeprefix("does not parse: ")
    return None


def is_single_expression(source: str) -> bool:
    """Whether ``source`` evaluates to a native value: a bare expression or one ``{{ expr }}``.

    ``when``, ``if`` and ``for.in`` need one; text around ``{{ }}`` would always be a string.
    Sources that do not parse count as single (their syntax error is reported instead).
    """
    if not is_template(source):
        return True
    result = _analysis(source)
    return isinstance(result, ExpressionError) or _single_expression(result) is not None


def referenced_steps(source: str) -> set[str]:
    """The task names ``source`` reads as ``steps.<name>`` or ``steps['<name>']``.

    The validator uses it to refuse reading a task's result before the task has run. Read
    from the AST, so names in string literals or comments do not count. Empty for a source
    that does not parse.
    """
    ast = _analysis(source)
    if isinstance(ast, ExpressionError):
        return set()
    names = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if not (isinstance(node.node, nodes.Name) and node.node.name == "steps"):
            continue
        if isinstance(node, nodes.Getattr):
            names.add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            names.add(node.arg.value)
    return names


def undeclared_names(source: str) -> set[str]:
    """The names ``source`` looks up in the scope (not the ones it sets itself), for the
    validator's "unknown name" check. Empty for a source that does not parse."""
    ast = _analysis(source)
    if isinstance(ast, ExpressionError):
        return set()
    return set(find_undeclared_variables(ast))


# --- compiling and rendering ------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """One compiled source: a literal, a native expression, or a text template."""

    source: str
    kind: str  # "literal", "native" or "text"
    template: Template | None = None
    expression: TemplateExpression | None = None
    # For a native expression that only looks a value up (``input.user``, ``steps.a.output["id"]``):
    # the name, then each key and whether it was written as an attribute.
    path: tuple[tuple[str, bool], ...] | None = None

    def render(self, scope: dict[str, Any]) -> Any:
        """The value in ``scope``: the expression's native value (a lazily produced sequence as a
        list), or the rendered text. Runs in the open render budget, or in one of its own."""
        if self.kind == "literal":
            return self.source
        if self.path is not None:
            found = _look_up(self.path, scope)
            if found is not _NOT_PLAIN:
                if type(found) is str and len(found) > _SMALL_TEXT:
                    check_value_size(found)
                return found
        return bounds.run_bounded(lambda: self._render(scope))

    def _render(self, scope: dict[str, Any]) -> Any:
        budget = current_budget()
        try:
            if self.expression is not None:
                value = _to_plain(self.expression(scope))
                _check_defined(value)
                budget.check_size(value)
                return value
            parts, size = [], 0
            for part in self.template.root_render_func(self.template.new_context(scope)):  # type: ignore[union-attr]
                size += len(part)
                if size > budget.max_bytes:
                    raise ValueTooLarge(budget.max_bytes)
                parts.append(part)
            return "".join(parts)
        except ExpressionError as exc:
            if exc.source is None:
                exc.source = self.source
            raise
        except RecursionError:
            raise ExpressionError("the value is nested too deeply", source=self.source) from None
        except Exception as exc:
            raise _translate(exc, self.source, scope) from None


# Text found by a plain lookup is measured only past this length (a len() is all it costs).
_SMALL_TEXT = 4096


# A lookup walks plain dicts only, and only where the sandbox would end up at the dict's item:
# ``a.b`` tries the attribute first, so a key named like a dict attribute (``items``) is left to
# Jinja, as is anything missing (its error names what is undefined) or not a dict.
_NOT_PLAIN = object()
_DICT_ATTRIBUTES = frozenset(dir(dict))


def _look_up(path: tuple[tuple[str, bool], ...], scope: dict[str, Any]) -> Any:
    """What the sandbox gives for a plain lookup path in ``scope``, or ``_NOT_PLAIN`` to ask it.
    Rendering a step's ``{{ input.user }}`` through a Jinja context per value was most of the
    cost of rendering its params."""
    value: Any = scope
    for key, as_attribute in path:
        if type(value) is not dict or (as_attribute and key in _DICT_ATTRIBUTES) or key not in value:
            return _NOT_PLAIN
        value = value[key]
    if isinstance(value, Undefined | list | tuple | dict):  # containers may hold undefined values
        return _NOT_PLAIN
    return value


def _plain_path(expr: nodes.Expr) -> tuple[tuple[str, bool], ...] | None:
    """The lookup path of an expression that is only a name with attribute or constant-key
    lookups, else None."""
    steps: list[tuple[str, bool]] = []
    node = expr
    while True:
        if isinstance(node, nodes.Getattr):
            steps.append((node.attr, True))
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            steps.append((node.arg.value, False))
            node = node.node
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            steps.append((node.name, False))
            return tuple(reversed(steps))
        else:
            return None


_LITERALS = (nodes.List, nodes.Dict)


def _bounded(node: nodes.Node) -> tuple[nodes.Node, nodes.Node]:
    """``node`` as compiled (a literal or ``~`` inside its size filter) and the node to descend into."""
    if isinstance(node, nodes.Concat):
        parts = nodes.List(node.nodes, lineno=node.lineno)
        return nodes.Filter(parts, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno), parts
    if isinstance(node, _LITERALS) or (isinstance(node, nodes.Tuple) and node.ctx == "load"):
        return nodes.Filter(node, _SIZED_FILTER, [], [], None, None, lineno=node.lineno), node
    return node, node


def _bound_literals(root: nodes.Node) -> None:
    """Put every list, tuple and dict literal and every ``~`` of ``root`` inside a filter that
    measures what it gathers: ``[x, x, x]`` holds only references, but its JSON (or a ``join``
    of it) is three times ``x``."""
    stack = [root]
    while stack:
        node = stack.pop()
        for field in node.fields:
            child = getattr(node, field, None)
            if isinstance(child, nodes.Node):
                compiled, inner = _bounded(child)
                setattr(node, field, compiled)
                stack.append(inner)
            elif isinstance(child, list):
                items = []
                for item in child:
                    if isinstance(item, nodes.Node):
                        compiled, inner = _bounded(item)
                        items.append(compiled)
                        stack.append(inner)
                    else:
                        items.append(item)
                setattr(node, field, items)


def _template(ast: nodes.Template, source: str) -> Template:
    """Generate code for ``ast``; unknown filters and tests surface here, not when parsing."""
    _bound_literals(ast)
    try:
        return _ENV.from_string(ast)
    except TemplateSyntaxError as exc:
        raise ExpressionError(f"does not parse: {_syntax_message(exc)}", source=source) from None


def _expression_template(expr: nodes.Expr, source: str) -> TemplateExpression:
    body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
    return TemplateExpression(_template(nodes.Template(body, lineno=1), source), undefined_to_none=False)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def compile_source(source: str) -> Compiled:
    """Compile a value string once per process (cached by its text) as ``render_value`` reads it.

    Raises ``ExpressionError`` when it does not parse.
    """
    if not is_template(source):
        return Compiled(source, "literal")
    ast = _parse(source)
    expr = _single_expression(ast)
    if expr is not None:
        return Compiled(source, "native", expression=_expression_template(expr, source), path=_plain_path(expr))
    return Compiled(source, "text", template=_template(ast, source))


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _compile_condition(source: str) -> Compiled:
    """Compile a ``when``/``if`` expression, with or without braces, to a native expression."""
    if is_template(source):
        compiled = compile_source(source)
        if compiled.kind != "native":
            raise ExpressionError(
                "must be one expression, not text around {{ }} (it would always be true)", source=source
            )
        return compiled
    ast = _parse(source)
    expr = ast.body[0].nodes[0]
    return Compiled(source, "native", expression=_expression_template(expr, source), path=_plain_path(expr))


def render_value(
    value: Any,
    scope: dict[str, Any],
    *,
    json_safe: bool = True,
    timeout: float | None = None,
    max_bytes: int | None = None,
) -> Any:
    """Render every string in ``value`` (walking dicts and lists) against ``scope``.

    With ``json_safe`` (the default, for params and loop lists) native results are made JSON
    values; conditions pass ``json_safe=False`` to compare real datetimes.

    Bounded (see ``workflows.bounds``): inside an open ``render_budget`` every string shares it;
    otherwise each string gets its own. ``timeout`` (CPU seconds) and ``max_bytes`` open a budget
    for this whole call. Past a bound: ``ExpressionTimeout`` / ``ValueTooLarge``.
    """
    if timeout is not None or max_bytes is not None:
        with render_budget(timeout=timeout, max_bytes=max_bytes):
            return _render_value(value, scope, json_safe)
    return _render_value(value, scope, json_safe)


def _render_value(value: Any, scope: dict[str, Any], json_safe: bool) -> Any:
    if isinstance(value, str):
        if "{{" not in value:
            return value
        result = compile_source(value).render(scope)
        if not json_safe:
            return result
        try:
            return _to_json(value, result)
        except RecursionError:
            raise ExpressionError("the value is nested too deeply", source=value) from None
    if isinstance(value, dict):
        return {key: _render_value(item, scope, json_safe) for key, item in value.items()}
    if isinstance(value, list):
        return [_render_value(item, scope, json_safe) for item in value]
    return value


def evaluate(expr: str, scope: dict[str, Any], *, timeout: float | None = None, max_bytes: int | None = None) -> Any:
    """The native value of a ``when``/``if`` expression, written with or without ``{{ }}``
    (bounded as ``render_value`` is)."""
    if not isinstance(expr, str):
        raise ExpressionError(f"an expression must be a string, not {type(expr).__name__}")
    if timeout is not None or max_bytes is not None:
        with render_budget(timeout=timeout, max_bytes=max_bytes):
            return _compile_condition(expr).render(scope)
    return _compile_condition(expr).render(scope)


# --- results and errors -----------------------------------------------------------------------


def _check_defined(value: Any) -> None:
    """Raise for an undefined value, also one inside a list or dict the expression built
    (``{{ [event.usr] }}``), which Jinja would otherwise hand back silently."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if isinstance(value, list | tuple):
        for item in value:
            _check_defined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _check_defined(item)


# Lazily produced or unordered sequences an expression can give (``map``, ``range``,
# ``dict.keys()``, sets): lists to the caller.
_ITERABLES = (range, AbstractSet, MappingView, Iterator)


def _to_plain(value: Any) -> Any:
    """Lazily produced sequences (``map``, ``select``, ``range``) as lists, so they compare,
    test true/false and can be read twice."""
    return list(value) if isinstance(value, _ITERABLES) else value


def _to_json(source: str, value: Any) -> Any:
    if isinstance(value, str):
        return str(value)  # a Markup from a filter becomes a plain string
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        return {key: _to_json(source, item) for key, item in value.items()}
    if isinstance(value, (list, tuple, *_ITERABLES)):
        return [_to_json(source, item) for item in value]
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise ExpressionError(f"the value is a {type(value).__name__}, which is not data (JSON)", source=source)


def _path_of(target: Any, scope: dict[str, Any], limit: int = 10_000) -> str | None:
    """Where ``target`` sits in ``scope`` (``event.user``), found by identity, breadth first.

    Only called when building an error message, so a missing attribute costs nothing until
    it is reported.
    """
    queue: list[tuple[str, Any]] = [(name, value) for name, value in scope.items()]
    seen = 0
    while queue and seen < limit:
        next_queue: list[tuple[str, Any]] = []
        for path, value in queue:
            seen += 1
            if value is target:
                return path
            if isinstance(value, dict):
                next_queue += [(_join_key(path, key), item) for key, item in value.items()]
            elif isinstance(value, list | tuple):
                next_queue += [(f"{path}[{index}]", item) for index, item in enumerate(value)]
        queue = next_queue
    return None


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _join_key(path: str, key: Any) -> str:
    if isinstance(key, str) and _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{key!r}]"


def _missing_message(error: _MissingValue, scope: dict[str, Any]) -> str:
    if error.hint:
        return error.hint
    if error.obj is missing:
        return f"undefined name {error.name!r}"
    where = _path_of(error.obj, scope)
    subject = repr(where) if where else repr(object_type_repr(error.obj))
    if isinstance(error.name, str):
        return f"{subject} has no attribute {error.name!r}"
    return f"{subject} has no element {error.name!r}"


def _translate(exc: Exception, source: str, scope: dict[str, Any]) -> ExpressionError:
    """Whatever Jinja or Python raised while evaluating, as an ``ExpressionError`` in plain words."""
    if isinstance(exc, _MissingValue):
        return UndefinedValueError(_missing_message(exc, scope), source=source)
    if isinstance(exc, SecurityError):
        return ExpressionError(f"not allowed: {exc.message}", source=source)
    if isinstance(exc, TemplateError):
        return ExpressionError(exc.message or type(exc).__name__, source=source)
    return ExpressionError(str(exc) or type(exc).__name__, source=source)
