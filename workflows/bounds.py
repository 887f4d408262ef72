"""What rendering an expression may cost: CPU time, and the size of every value it builds.

Admins write expressions and workers run them, so a ten-character expression must not hold a
worker for minutes or make it allocate gigabytes. Two bounds, both from settings:

* **Time** (``KEYFLOW_EXPRESSION_TIMEOUT``, CPU seconds, default 1): a render runs inside a
  budget. Every operator, filter, call, lookup and loop item the sandbox intercepts checks the
  budget's deadline, in any thread. Inside ``render_budget()`` (what the runner opens around a
  step's rendering) in the main thread (a worker's task), a ``SIGPROF`` timer also interrupts
  what no check reaches (a regular expression in a ``matches`` condition, say). Past it the
  render fails with ``ExpressionTimeout`` ("expression exceeded 1 s").
* **Size** (``KEYFLOW_MAX_VALUE_BYTES``, default 1 MB): sizes are measured as the length of the
  value's JSON text (``value_size``, without building it). Operators and filters that can grow
  a value past their inputs (``*``, ``+``, ``%``, ``format``, ``join``, ``replace``, ``indent``,
  ``wordwrap``, ``tojson``…) are checked *before* they run; the result of every other filter and
  call after, and lazily produced sequences item by item. A literal list or ``~`` that would
  gather more than the bound is refused before it is built. Past it: ``ValueTooLarge`` ("value
  larger than 1 MB").

On top, single operations keep the older caps: ``range()`` gives at most ``MAX_RANGE`` items,
widths and repeat counts at most ``MAX_LENGTH``, ``**`` and ``*`` of integers at most
``MAX_POWER_BITS`` bits.

The runner uses three things from here (re-exported by ``workflows.expressions``):
``render_budget()`` around all the rendering of one step, ``check_output_size(output)`` before
a step's output is stored, and the two error classes.
"""

from __future__ import annotations

import re
import signal
import string
import threading
import time
from collections.abc import Callable, Iterator, Mapping, MappingView
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.signals import setting_changed

from workflows.expression_errors import ExpressionError, ExpressionTimeout, ValueTooLarge

__all__ = [
    "DEFAULT_MAX_EXPRESSION_DEPTH",
    "DEFAULT_MAX_EXPRESSION_LENGTH",
    "DEFAULT_MAX_VALUE_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_LENGTH",
    "MAX_POWER_BITS",
    "MAX_RANGE",
    "Budget",
    "check_output_size",
    "check_value_size",
    "current_budget",
    "expression_depth_limit",
    "expression_length_limit",
    "expression_timeout",
    "max_value_bytes",
    "render_budget",
    "run_bounded",
    "text_size",
    "value_size",
]

# The most items ``range()`` may produce, and the longest string or list a single operation
# (``*``, a format width, ``center``…) may build: enough for any directory, small enough that
# a ten-character expression cannot make a worker allocate gigabytes.
MAX_RANGE = 10_000
MAX_LENGTH = 100_000
# ``a ** b`` and ``a * b`` may produce an integer of at most this many bits (10**30000 fits).
MAX_POWER_BITS = 100_000
# ``sum`` over lists copies the running total at every item; refuse past this many copied items.
MAX_SUM_WORK = 5_000_000

DEFAULT_TIMEOUT = 1.0
DEFAULT_MAX_VALUE_BYTES = 1 << 20
# One expression (a ``{{ }}`` of a template, or a bare condition): characters, and depth (each open
# bracket and each chained operator, filter or lookup). Jinja's parser and compiler recurse per
# level: 24 keeps them well inside Python's recursion limit, under a request's or a worker's stack.
DEFAULT_MAX_EXPRESSION_LENGTH = 1000
DEFAULT_MAX_EXPRESSION_DEPTH = 24


_settings_cache: dict[str, Any] = {}


def _setting(name: str, default: Any) -> Any:
    """A Keyflow setting, read once per process (a render reads several; tests that change one
    send ``setting_changed``, which empties the cache)."""
    try:
        return _settings_cache[name]
    except KeyError:
        pass
    from django.conf import settings

    value = getattr(settings, name, default) if settings.configured else default
    _settings_cache[name] = value
    return value


def _forget_settings(**kwargs: Any) -> None:
    _settings_cache.clear()


setting_changed.connect(_forget_settings, dispatch_uid="keyflow-bounds-settings")


def expression_timeout() -> float:
    """CPU seconds one render may use (``KEYFLOW_EXPRESSION_TIMEOUT``)."""
    return float(_setting("KEYFLOW_EXPRESSION_TIMEOUT", DEFAULT_TIMEOUT))


def max_value_bytes() -> int:
    """The largest value a render may build, and a step may output (``KEYFLOW_MAX_VALUE_BYTES``)."""
    return int(_setting("KEYFLOW_MAX_VALUE_BYTES", DEFAULT_MAX_VALUE_BYTES))


def expression_length_limit() -> int:
    """The longest expression, in characters (``KEYFLOW_MAX_EXPRESSION_LENGTH``)."""
    return int(_setting("KEYFLOW_MAX_EXPRESSION_LENGTH", DEFAULT_MAX_EXPRESSION_LENGTH))


def expression_depth_limit() -> int:
    """The deepest expression (``KEYFLOW_MAX_EXPRESSION_DEPTH``)."""
    return int(_setting("KEYFLOW_MAX_EXPRESSION_DEPTH", DEFAULT_MAX_EXPRESSION_DEPTH))


# --- measuring ----------------------------------------------------------------------------------

_SCALARS = {type(None): 4, bool: 5, float: 24}


def value_size(value: Any, limit: int) -> int:
    """About the length of ``value``'s JSON text, counted without building it; as soon as the
    count passes ``limit`` the walk stops and returns what it has (so the cost is bounded by
    ``limit``, not by the value). A list repeating one big string counts it every time, as its
    JSON would. Objects that are not data count a few bytes (they fail later as not JSON)."""
    total = 0
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            total += len(item) + 2
        elif kind is dict:
            total += 2 + 2 * len(item)
            for key, sub in item.items():
                push(key)
                push(sub)
        elif kind is list or kind is tuple:
            total += 2 + len(item)
            extend(item)
        elif kind is int:
            total += item.bit_length() // 3 + 2
        elif kind in _SCALARS:
            total += _SCALARS[kind]
        else:
            total += _other_size(item, push, extend)
        if total > limit:
            return total
    return total


def _other_size(item: Any, push: Callable[[Any], None], extend: Callable[[Any], None]) -> int:
    """``value_size`` for the rarer types: subclasses, mappings, sets, views, ranges, objects."""
    if isinstance(item, str | bytes):
        return len(item) + 2
    if isinstance(item, int):
        return item.bit_length() // 3 + 2
    if isinstance(item, Mapping):
        for key, sub in item.items():
            push(key)
            push(sub)
        return 2 + 2 * len(item)
    if isinstance(item, list | tuple | AbstractSet | MappingView):
        extend(item)
        return 2 + len(item)
    if isinstance(item, range):
        return len(item) * (max(abs(item.start), abs(item.stop)).bit_length() // 3 + 3)
    return 8


def text_size(item: Any, limit: int) -> int:
    """What ``str(item)`` adds to a join: its length for text, its JSON size otherwise."""
    return len(item) if isinstance(item, str) else value_size(item, limit)


# --- the budget ---------------------------------------------------------------------------------


class Budget:
    """The CPU deadline and size bound of one render (or of all of one step's renders).

    A lazy budget (the one a render opens for itself) reads the clock first at its eighth tick:
    a small render then costs no clock read at all (reading a thread's CPU clock is a system
    call), and a large one is timed from that tick on.
    """

    __slots__ = ("deadline", "max_bytes", "ticks", "timeout")

    def __init__(self, timeout: float, max_bytes: int, deadline: float | None = None, *, lazy: bool = False) -> None:
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.deadline: float | None = None if lazy else time.thread_time() + timeout if deadline is None else deadline
        self.ticks = 0

    def tick(self) -> None:
        """Called by every intercepted operation; reads the clock every eighth call."""
        self.ticks += 1
        if not self.ticks & 7:
            now = time.thread_time()
            if self.deadline is None:
                self.deadline = now + self.timeout
            elif now > self.deadline:
                raise ExpressionTimeout(self.timeout)

    def check_total(self, size: int) -> None:
        if size > self.max_bytes:
            raise ValueTooLarge(self.max_bytes)

    def check_size(self, value: Any) -> None:
        """Refuse ``value`` when it is larger than the bound."""
        if isinstance(value, str):
            if len(value) > self.max_bytes:
                raise ValueTooLarge(self.max_bytes)
        elif value_size(value, self.max_bytes) > self.max_bytes:
            raise ValueTooLarge(self.max_bytes)

    def bounded(self, value: Any) -> Any:
        """``value`` checked against the bound; a lazily produced sequence is wrapped so that it is
        checked item by item as it is consumed (it cannot be measured before)."""
        kind = type(value)
        if kind is str:
            if len(value) > self.max_bytes:
                raise ValueTooLarge(self.max_bytes)
            return value
        if kind in _SCALARS or kind is int:
            return value
        if kind is not _BoundedIterator and isinstance(value, Iterator):
            return _BoundedIterator(value, self)
        self.check_size(value)
        return value


class _BoundedIterator:
    """An iterator whose items, added up, may not pass the budget's size bound; each item is a
    tick of the deadline, so a long lazy pipeline (``map``, ``select``) is timed too."""

    __slots__ = ("_budget", "_items", "_size")

    def __init__(self, items: Iterator[Any], budget: Budget) -> None:
        self._items = items
        self._budget = budget
        self._size = 2

    def __iter__(self) -> _BoundedIterator:
        return self

    def __next__(self) -> Any:
        item = next(self._items)
        budget = self._budget
        budget.tick()
        kind = type(item)
        if kind is str:
            self._size += len(item) + 3
        elif kind is int or kind in _SCALARS:
            self._size += 25
        else:
            self._size += value_size(item, budget.max_bytes) + 1
        if self._size > budget.max_bytes:
            raise ValueTooLarge(budget.max_bytes)
        return item


_ACTIVE: ContextVar[Budget | None] = ContextVar("keyflow_render_budget", default=None)


def current_budget() -> Budget:
    """The active budget; outside any (a filter folded while compiling), one with the size bound
    and no deadline."""
    budget = _ACTIVE.get()
    return budget if budget is not None else Budget(float("inf"), max_value_bytes(), deadline=float("inf"))


def active_budget() -> Budget | None:
    """The active budget, if a render (or the runner) opened one."""
    return _ACTIVE.get()


def run_bounded(render: Callable[[], Any]) -> Any:
    """``render()`` in the open budget, or in a lazy one of its own (no timer: a render outside
    any ``render_budget`` is timed by its ticks alone)."""
    if _ACTIVE.get() is not None:
        return render()
    token = _ACTIVE.set(Budget(expression_timeout(), max_value_bytes(), lazy=True))
    try:
        return render()
    finally:
        _ACTIVE.reset(token)


@contextmanager
def render_budget(*, timeout: float | None = None, max_bytes: int | None = None) -> Iterator[Budget]:
    """Bound every render inside the block together: at most ``timeout`` CPU seconds and values of
    at most ``max_bytes`` (defaults: the settings). The runner opens one around all the rendering
    of a step (its ``if``, its params, a loop's ``in``) before it takes any lock or transaction.

    Inside an open budget, a block without arguments shares it; with arguments it gets the
    tighter of the two.
    """
    outer = _ACTIVE.get()
    if outer is not None and timeout is None and max_bytes is None:
        yield outer
        return
    seconds = expression_timeout() if timeout is None else float(timeout)
    limit = max_value_bytes() if max_bytes is None else int(max_bytes)
    if outer is not None:
        deadline = time.thread_time() + seconds
        if outer.deadline is not None:
            deadline = min(deadline, outer.deadline)
        budget = Budget(seconds, min(limit, outer.max_bytes), deadline)
    else:
        budget = Budget(seconds, limit)
    token = _ACTIVE.set(budget)
    armed = outer is None and _arm_timer(budget)
    try:
        yield budget
    finally:
        try:
            if armed:
                _disarm_timer()
        finally:
            _ACTIVE.reset(token)


# The SIGPROF timer: a backstop in the main thread for what no tick reaches. The handler raises
# only while a budget is armed, so a signal that arrives after the render finished is ignored.
_timer_budget: Budget | None = None
_HAS_TIMER = hasattr(signal, "setitimer") and hasattr(signal, "SIGPROF")


def _on_timer(signum: int, frame: Any) -> None:
    budget = _timer_budget
    if budget is not None:
        raise ExpressionTimeout(budget.timeout)


_handler_installed = False


def _arm_timer(budget: Budget) -> bool:
    global _timer_budget, _handler_installed
    if not _HAS_TIMER or budget.timeout <= 0 or threading.get_ident() != threading.main_thread().ident:
        return False
    if not _handler_installed:
        if signal.getsignal(signal.SIGPROF) not in (signal.SIG_DFL, None):
            return False  # someone else's (a profiler): leave it alone, the ticks still time the render
        signal.signal(signal.SIGPROF, _on_timer)
        _handler_installed = True
    _timer_budget = budget
    previous = signal.setitimer(signal.ITIMER_PROF, budget.timeout)
    if previous != (0.0, 0.0):  # someone else's timer: give it back, rely on the ticks
        _timer_budget = None
        signal.setitimer(signal.ITIMER_PROF, *previous)
        return False
    return True


def _disarm_timer() -> None:
    global _timer_budget
    _timer_budget = None
    signal.setitimer(signal.ITIMER_PROF, 0)


def check_value_size(value: Any, *, max_bytes: int | None = None, what: str = "value") -> None:
    """Raise ``ValueTooLarge`` ("<what> larger than 1 MB") when ``value``'s JSON text would be
    larger than ``max_bytes`` (default ``KEYFLOW_MAX_VALUE_BYTES``). Cost bounded by the limit."""
    limit = max_value_bytes() if max_bytes is None else max_bytes
    if value_size(value, limit) > limit:
        raise ValueTooLarge(limit, what=what)


def check_output_size(output: Any, *, max_bytes: int | None = None) -> None:
    """Refuse a step's output larger than ``KEYFLOW_MAX_VALUE_BYTES`` before it is encoded and stored:
    the step fails with "output larger than 1 MB" instead of the database growing by its size."""
    check_value_size(output, max_bytes=max_bytes, what="output")


# --- guards: each one runs before an operation that can build more than it was given ----------------


def check_length(length: int) -> None:
    if length > MAX_LENGTH:
        raise ExpressionError(f"the result would be {length} characters or items long, over the limit of {MAX_LENGTH}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_power(base: Any, exponent: Any, budget: Budget | None = None) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        bits = abs(base).bit_length() * exponent
        if bits > MAX_POWER_BITS:
            raise ExpressionError(f"{base} ** {exponent} is too large a number")


def check_multiply(left: Any, right: Any, budget: Budget) -> None:
    if _is_int(left) and _is_int(right):
        if left.bit_length() + right.bit_length() > MAX_POWER_BITS:
            raise ExpressionError("the product is too large a number")
        return
    seq, count = (left, right) if _is_int(right) else (right, left)
    if isinstance(seq, str | list | tuple) and _is_int(count):
        check_length(len(seq) * count)
        if count > 1:
            budget.check_total(_inner_size(seq, budget) * count)


def check_add(left: Any, right: Any, budget: Budget) -> None:
    if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        budget.check_total(_inner_size(left, budget) + _inner_size(right, budget))


def _inner_size(seq: str | list[Any] | tuple[Any, ...], budget: Budget) -> int:
    """What a sequence adds when repeated or concatenated: its text, or its items' JSON."""
    return len(seq) if isinstance(seq, str) else value_size(seq, budget.max_bytes) - 2


# A %-format conversion: mapping key, flags, width, precision and the conversion character.
_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[#0\- +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?(?P<conversion>.?)", re.S
)
_DIGITS = re.compile(r"\d+")


def check_percent(fmt: str, args: Any, budget: Budget) -> None:
    """``fmt % args``: widths within ``MAX_LENGTH``, and the result — the format, plus each width
    and each argument it prints (a mapping key may print one argument many times) — within the
    size bound."""
    mapping = args if isinstance(args, Mapping) else None
    positional = args if isinstance(args, tuple) else () if mapping is not None else (args,)
    total, index = len(fmt), 0
    for match in _PERCENT_SPEC.finditer(fmt):
        for size in (match["width"], match["precision"]):
            if size == "*":
                raise ExpressionError("'*' widths are not allowed in % formatting")
            if size is not None:
                check_length(int(size))
                total += int(size)
        if match["conversion"] in ("%", ""):
            continue
        if match["key"] is not None and mapping is not None:
            argument = mapping.get(match["key"])
        elif index < len(positional):
            argument, index = positional[index], index + 1
        else:
            continue
        factor = 4 if match["conversion"] in "ra" else 1  # repr escapes a character as up to \xNN
        total += text_size(argument, budget.max_bytes) * factor
        if total > budget.max_bytes:
            break
    budget.check_total(total)


def check_str_format(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any], budget: Budget) -> None:
    """``fmt.format(*args, **kwargs)``: no nested specs, widths within ``MAX_LENGTH``, and the result
    (each field at most its argument's size or its width) within the size bound."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise ExpressionError(f"bad format string: {exc}") from None
    total, auto = 0, 0
    for literal, field, spec, conversion in fields:
        total += len(literal)
        width = 0
        if spec:
            if "{" in spec:
                raise ExpressionError("nested format specs are not allowed")
            for size in _DIGITS.findall(spec):
                check_length(int(size))
                width = max(width, int(size))
        if field is None:
            continue
        head = re.split(r"[.\[]", field, maxsplit=1)[0]
        if head == "":
            argument, auto = (args[auto] if auto < len(args) else None), auto + 1
        elif head.isdigit():
            argument = args[int(head)] if int(head) < len(args) else None
        else:
            argument = kwargs.get(head)
        factor = 4 if conversion in ("r", "a") else 1
        total += max(text_size(argument, budget.max_bytes) * factor, width)
        if total > budget.max_bytes:
            break
    budget.check_total(total)


def _materialized(value: Any) -> Any:
    """A sequence a guard may measure and the filter then read: lazy ones become lists (bounded
    item by item while they are read)."""
    return value if isinstance(value, list | tuple | str | Mapping) else list(value)


def guard_join(value: Any, d: Any = "", attribute: Any = None) -> Any:
    items = _materialized(value)
    budget = current_budget()
    separator = text_size(d, budget.max_bytes)
    total = separator * max(len(items) - 1, 0)
    for item in items:
        total += text_size(item, budget.max_bytes)
        if total > budget.max_bytes:
            break
    budget.check_total(total)
    return items


def guard_sizes(_value: Any, *args: Any, **kwargs: Any) -> None:
    """For calls whose integer arguments are sizes (``center(width)``, ``batch(count)``…)."""
    for size in (*args, *kwargs.values()):
        if _is_int(size):
            check_length(size)


def guard_expandtabs(text: str, tabsize: Any = 8) -> None:
    if _is_int(tabsize):
        check_length(len(text) + text.count("\t") * tabsize)


def guard_replace(text: Any, old: Any = "", new: Any = "", count: Any = None) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    occurrences = (len(text) + 1) if old == "" else text.count(old)
    if _is_int(count) and count >= 0:
        occurrences = min(occurrences, count)
    check_length(len(text) + occurrences * (len(new) - len(old)))


def guard_percent(value: Any, *args: Any, **kwargs: Any) -> None:
    """The ``format`` filter: ``value % args`` (or ``% kwargs``)."""
    if isinstance(value, str):
        check_percent(value, kwargs if kwargs else args, current_budget())


def guard_indent(text: Any, width: Any = 4, first: Any = False, blank: Any = False) -> None:
    if _is_int(width):
        check_length(width)
    prefix = len(width) if isinstance(width, str) else width if _is_int(width) else 0
    if isinstance(text, str):
        current_budget().check_total(len(text) + (text.count("\n") + 1) * prefix)


def guard_wordwrap(
    text: Any, width: Any = 79, break_long_words: Any = True, wrapstring: Any = None, break_on_hyphens: Any = True
) -> None:
    if isinstance(text, str) and isinstance(wrapstring, str) and _is_int(width) and width > 0:
        lines = len(text) // width + text.count("\n") + 1
        current_budget().check_total(len(text) + lines * len(wrapstring))


def guard_tojson(value: Any, indent: Any = None) -> None:
    """Indented JSON repeats the indent on every line, once per level: measure that layout."""
    if indent is None:
        return
    per_level = len(indent) if isinstance(indent, str) else indent if _is_int(indent) else 0
    check_length(per_level)
    budget = current_budget()
    total, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            total += depth * per_level + 2
            stack.extend((sub, depth + 1) for sub in item.values())
            total += sum(text_size(key, budget.max_bytes) + depth * per_level + 4 for key in item)
        elif isinstance(item, list | tuple):
            total += depth * per_level + 2
            stack.extend((sub, depth + 1) for sub in item)
        else:
            total += depth * per_level + value_size(item, budget.max_bytes)
        if total > budget.max_bytes:
            break
    budget.check_total(total)


def guard_sum(iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """``sum`` of lists copies the running total at each item (quadratic, in C, so no tick
    interrupts it): refuse it past ``MAX_SUM_WORK`` copied items."""
    items = _materialized(iterable)
    if attribute is None and (isinstance(start, list | tuple) or any(isinstance(i, list | tuple) for i in items)):
        work = len(items) * sum(len(i) for i in items if isinstance(i, list | tuple))
        if work > MAX_SUM_WORK:
            raise ExpressionError("sum over this many lists would take too long; join them with |map or |batch instead")
    return items


def guard_translate(text: str, table: Any = None) -> None:
    if isinstance(table, Mapping):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        current_budget().check_total(len(text) * max(longest, 1))


def guard_str_join(separator: str, items: Any = ()) -> Any:
    return guard_join(items, separator)


# ``str`` methods and filters that can build a result far larger than their input. A guard may
# return a replacement for the value it was given (a lazy sequence it read into a list).
STR_METHOD_GUARDS: dict[str, Callable[..., Any]] = {
    "center": guard_sizes,
    "ljust": guard_sizes,
    "rjust": guard_sizes,
    "zfill": guard_sizes,
    "expandtabs": guard_expandtabs,
    "replace": guard_replace,
    "translate": guard_translate,
}
FILTER_GUARDS: dict[str, Callable[..., Any]] = {
    "center": guard_sizes,
    "indent": guard_indent,
    "batch": guard_sizes,
    "slice": guard_sizes,
    "format": guard_percent,
    "replace": guard_replace,
    "join": guard_join,
    "wordwrap": guard_wordwrap,
    "tojson": guard_tojson,
    "sum": guard_sum,
}
BINOP_GUARDS: dict[str, Callable[[Any, Any, Budget], None]] = {
    "**": check_power,
    "*": check_multiply,
    "+": check_add,
    "%": lambda left, right, budget: check_percent(left, right, budget) if isinstance(left, str) else None,
}
