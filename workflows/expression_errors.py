"""The errors an expression can raise, in a module of their own so that ``workflows.bounds`` (what a
render may cost) and ``workflows.expressions`` (the sandbox) can both raise them without a cycle.
``workflows.expressions`` re-exports them; import them from there."""

from __future__ import annotations

__all__ = ["ExpressionError", "ExpressionTimeout", "UndefinedValueError", "ValueTooLarge", "human_size"]


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


class ExpressionTimeout(ExpressionError):
    """A render used more CPU time than its budget (``KEYFLOW_EXPRESSION_TIMEOUT``)."""

    def __init__(self, timeout: float, *, source: str | None = None) -> None:
        super().__init__(f"expression exceeded {timeout:g} s", source=source)
        self.timeout = timeout


class ValueTooLarge(ExpressionError):
    """A value (rendered, built on the way, or a step's output) is larger than ``KEYFLOW_MAX_VALUE_BYTES``."""

    def __init__(self, max_bytes: int, *, what: str = "value", source: str | None = None) -> None:
        super().__init__(f"{what} larger than {human_size(max_bytes)}", source=source)
        self.max_bytes = max_bytes


def human_size(size: int) -> str:
    """``1048576`` → ``"1 MB"``, ``262144`` → ``"256 KB"``: how limits are named in messages."""
    for unit, factor in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= factor:
            whole, rest = divmod(size, factor)
            return f"{whole} {unit}" if not rest else f"{size / factor:.1f} {unit}"
    return f"{size} bytes"
