"""A service called directly inside a workflow step needs no savepoint of its own.

Every directory service is atomic: outside a step it opens its own savepoint (or transaction),
so a failure leaves nothing half-written. Inside a workflow step the runner already holds a
savepoint around the step, and a service error propagates out of the action and rolls that
savepoint back — the service's own savepoint would only cost two more statements per write
(``SAVEPOINT`` and ``RELEASE``: a quarter of all statements a worker ran per execution).

So ``step()`` marks the savepoint depth of the step, and ``atomic_service`` joins the step's
savepoint (``atomic(savepoint=False)``) when called at exactly that depth. Services called from
within another service, or anywhere else, keep their own savepoint. The consequence for actions:
an action must let a service's exception propagate (turning it into an ``ActionError`` is fine); one
that caught it and went on querying would get Django's "an error occurred in the current
transaction" and fail the step instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from django.db import connection, transaction

F = TypeVar("F", bound=Callable[..., Any])

_step_depth: ContextVar[int | None] = ContextVar("keyflow_step_savepoint_depth", default=None)


@contextmanager
def step() -> Iterator[None]:
    """A savepoint around one workflow step, which services called directly inside join."""
    with transaction.atomic():
        token = _step_depth.set(len(connection.savepoint_ids))
        try:
            yield
        finally:
            _step_depth.reset(token)


def _atomic() -> transaction.Atomic:
    depth = _step_depth.get()
    if depth is not None and connection.in_atomic_block and len(connection.savepoint_ids) == depth:
        return transaction.atomic(savepoint=False)
    return transaction.atomic()


def atomic_service(func: F) -> F:
    """``transaction.atomic`` for a service, joining the enclosing step's savepoint if any."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _atomic():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
