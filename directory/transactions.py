"""How directory services open their transaction.

Every service is atomic, so a failed change leaves nothing half-written. A caller that already
wraps the call in a savepoint of its own — the workflow runner runs each step in one — may let
the service it calls directly join that savepoint (``transaction.atomic(savepoint=False)``): two
statements fewer per change, and the caller's savepoint is what rolls back if the service fails.
Services that service calls keep their own savepoints, so one it catches the failure of rolls
back alone, as anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

from django.db import transaction

F = TypeVar("F", bound=Callable[..., Any])

_caller_savepoint: ContextVar[bool] = ContextVar("keyflow_caller_savepoint", default=False)


@contextmanager
def in_caller_savepoint() -> Iterator[None]:
    """Mark a block that the caller runs inside a savepoint of its own (``transaction.atomic()``):
    a service called directly in it joins that savepoint instead of opening another."""
    token = _caller_savepoint.set(True)
    try:
        yield
    finally:
        _caller_savepoint.reset(token)


def atomic_service(func: F) -> F:
    """``transaction.atomic`` for a service: its own savepoint, unless its caller holds one for it."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        join = _caller_savepoint.get()
        token = _caller_savepoint.set(False)  # what this service calls keeps its own savepoints
        try:
            with transaction.atomic(savepoint=not join):
                return func(*args, **kwargs)
        finally:
            _caller_savepoint.reset(token)

    return wrapper  # type: ignore[return-value]
