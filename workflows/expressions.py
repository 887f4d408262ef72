"""Templated values and expressions in workflow documents: Jinja2 in an immutable sandbox.

Why Jinja2 in a sandbox: admins write expressions, and a workflow runs with a run-as role's
rights inside a worker; an expression must be able to read the data it is given and nothing
else of the Python process. ``ImmutableSandboxedEnvironment`` refuses attributes that start
with ``_``, Python internals (``mro``, ``__globals__``…), calls that mutate lists, dicts and
sets, and unsafe ``str.format`` fields. On top of it this module caps what a tiny expression can
make a worker allocate (``range``, ``**``, ``*``, format widths), drops Jinja's
``lipsum``/``cycler``/``joiner``/``namespace`` globals, and refuses ``include``/``import``/
``extend`` (there is no template loader).

How a string is read (``render_value``):

* no ``{{`` in it: a literal, returned as is;
* exactly one ``{{ expr }}`` (whitespace inside and around the braces is allowed): the
  expression's native value — list, dict, number, bool, None. ``render_value`` makes it
  JSON-safe (dates and datetimes become ISO strings, tuples, ranges and generators become
  lists) because rendered params are stored and handed to actions as JSON;
* anything else with ``{{`` in it (text around ``{{ }}``, several ``{{ }}``, ``{% if %}``
  blocks): a string.

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
import string
import types
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

__all__ = [
    "GLOBAL_NAMES",
    "MAX_LENGTH",
    "MAX_RANGE",
    "RESERVED_NAMES",
    "SCOPE_NAMES",
    "Compiled",
    "ExpressionError",
    "UndefinedValueError",
    "add_days",
    "check_syntax",
    "compile_source",
    "days_since",
    "days_until",
    "email_domain",
    "evaluate",
    "is_single_expression",
    "is_template",
    "iter_templates",
    "now",
    "referenced_steps",
    "render_value",
    "to_date",
    "to_datetime",
    "today",
    "undeclared_names",
]

# The names the runner puts in scope (loop variables come on top).
SCOPE_NAMES = frozenset({"input", "event", "steps", "workflow", "execution"})

# The most items ``range()`` may produce, and the longest string or list a single operation
# (``*``, a format width, ``center``…) may build: enough for any directory, small enough that
# a ten-character expression cannot make a worker allocate gigabytes.
MAX_RANGE = 10_000
MAX_LENGTH = 100_000
# ``a ** b`` may produce an integer of at most this many bits (10**30000 fits).
_MAX_POWER_BITS = 100_000

_CACHE_SIZE = 4096


class ExpressionError(Exception):
    """An expression does not parse, reads something undefined, or fails while evaluating.

    ``message`` is plain text for the admin (shown in the builder and the execution history);
    ``source`` is the template or expression it came from, when known.
    """

    def __init__(self, message: str, *, source: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source


class UndefinedValueError(ExpressionError):
    """A name, attribute, key or element the expression reads does not exist.

    Its own class so that the ``exists`` and ``empty`` operators can tell "not there" apart
    from every other failure.
    """


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


# --- size guards ------------------------------------------------------------------------------


def _check_length(length: int) -> None:
    if length > MAX_LENGTH:
        raise ExpressionError(f"the result would be {length} characters or items long, over the limit of {MAX_LENGTH}")


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        bits = abs(base).bit_length() * exponent
        if bits > _MAX_POWER_BITS:
            raise ExpressionError(f"{base} ** {exponent} is too large a number")


def _check_repeat(left: Any, right: Any) -> None:
    seq, count = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(seq, str | list | tuple) and isinstance(count, int):
        _check_length(len(seq) * count)


# A %-format conversion: flags, width and precision (``*`` takes them from the arguments).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _check_percent_format(fmt: str) -> None:
    for match in _PERCENT_SPEC.finditer(fmt):
        for size in match.groups():
            if size == "*":
                raise ExpressionError("'*' widths are not allowed in % formatting")
            if size is not None:
                _check_length(int(size))


def _check_format_spec(fmt: str) -> None:
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise ExpressionError(f"bad format string: {exc}") from None
    for _literal, _field, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            raise ExpressionError("nested format specs are not allowed")
        for size in _DIGITS.findall(spec):
            _check_length(int(size))


def _guard_sizes(_value: Any, *args: Any, **kwargs: Any) -> None:
    """For calls whose integer arguments are sizes (``center(width)``, ``batch(count)``…)."""
    for size in (*args, *kwargs.values()):
        if isinstance(size, int) and not isinstance(size, bool):
            _check_length(size)


def _guard_expandtabs(text: str, tabsize: Any = 8) -> None:
    if isinstance(tabsize, int):
        _check_length(len(text) + text.count("\t") * tabsize)


def _guard_replace(text: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    occurrences = (len(text) + 1) if old == "" else text.count(old)
    if isinstance(count, int) and count >= 0:
        occurrences = min(occurrences, count)
    _check_length(len(text) + occurrences * (len(new) - len(old)))


def _guard_percent(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        _check_percent_format(value)


# ``str`` methods and filters that can build a result far larger than their input.
_STR_METHOD_GUARDS: dict[str, Callable[..., None]] = {
    "center": _guard_sizes,
    "ljust": _guard_sizes,
    "rjust": _guard_sizes,
    "zfill": _guard_sizes,
    "expandtabs": _guard_expandtabs,
    "replace": _guard_replace,
}
_FILTER_GUARDS: dict[str, Callable[..., None]] = {
    "center": _guard_sizes,
    "indent": _guard_sizes,
    "batch": _guard_sizes,
    "slice": _guard_sizes,
    "format": _guard_percent,
    "replace": _guard_replace,
}


def _guarded_filter(original: Callable[..., Any], guard: Callable[..., None]) -> Callable[..., Any]:
    # Filters marked ``pass_eval_context``/``pass_environment`` get that object first; the
    # wrapper keeps the mark (``functools.wraps`` copies it) and skips it for the guard.
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        guard(*args[skip:], **kwargs)
        return original(*args, **kwargs)

    return wrapper


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
    """The immutable sandbox plus size guards, dict keys before dict methods, and no loader."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_repeat(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # ``input.items`` means the input's ``items`` field, not ``dict.items``.
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        if isinstance(obj, Undefined):  # report the missing name, not the Undefined's internals
            obj._fail_with_undefined_error()
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(obj, Undefined):
            obj._fail_with_undefined_error()
        return super().getitem(obj, argument)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        fmt = value.__self__

        @functools.wraps(wrapped)
        def checked(*args: Any, **kwargs: Any) -> str:
            _check_format_spec(fmt)
            return wrapped(*args, **kwargs)

        return checked

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(__obj, types.BuiltinMethodType) and isinstance(getattr(__obj, "__self__", None), str):
            guard = _STR_METHOD_GUARDS.get(__obj.__name__)
            if guard is not None:
                guard(__obj.__self__, *args, **kwargs)
        return super().call(__context, __obj, *args, **kwargs)


def _make_environment() -> _Sandbox:
    env = _Sandbox(undefined=_StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.globals.clear()
    env.globals.update(_GLOBALS)
    env.filters.update(_HELPERS)
    for name, guard in _FILTER_GUARDS.items():
        env.filters[name] = _guarded_filter(env.filters[name], guard)
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


_LOADING_NODES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def _syntax_message(exc: TemplateSyntaxError) -> str:
    message = exc.message or "syntax error"
    return f"{message} (line {exc.lineno})" if exc.lineno and exc.lineno > 1 else message


def _parse(source: str) -> nodes.Template:
    """The AST of ``source``: a template when it contains ``{{``, otherwise a bare expression
    (wrapped as ``{{ expr }}``). Raises ``ExpressionError`` when it does not parse."""
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
    if any(True for _ in ast.find_all(_LOADING_NODES)):
        raise ExpressionError("templates cannot include, import or extend other templates", source=source)
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
        """The value in ``scope``: the expression's native value, or the rendered text."""
        if self.kind == "literal":
            return self.source
        if self.path is not None:
            found = _look_up(self.path, scope)
            if found is not _NOT_PLAIN:
                return found
        try:
            if self.expression is not None:
                value = self.expression(scope)
                _check_defined(value)
                return value
            return "".join(self.template.root_render_func(self.template.new_context(scope)))  # type: ignore[union-attr]
        except ExpressionError:
            raise
        except Exception as exc:
            raise _translate(exc, self.source, scope) from None


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


def _template(ast: nodes.Template, source: str) -> Template:
    """Generate code for ``ast``; unknown filters and tests surface here, not when parsing."""
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


def render_value(value: Any, scope: dict[str, Any], *, json_safe: bool = True) -> Any:
    """Render every string in ``value`` (walking dicts and lists) against ``scope``.

    With ``json_safe`` (the default, for params and loop lists) native results are made JSON
    values; conditions pass ``json_safe=False`` to compare real datetimes.
    """
    if isinstance(value, str):
        if "{{" not in value:
            return value
        result = compile_source(value).render(scope)
        return _to_json(value, result) if json_safe else _to_plain(result)
    if isinstance(value, dict):
        return {key: render_value(item, scope, json_safe=json_safe) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, scope, json_safe=json_safe) for item in value]
    return value


def evaluate(expr: str, scope: dict[str, Any]) -> Any:
    """The native value of a ``when``/``if`` expression, written with or without ``{{ }}``."""
    if not isinstance(expr, str):
        raise ExpressionError(f"an expression must be a string, not {type(expr).__name__}")
    return _to_plain(_compile_condition(expr).render(scope))


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
