"""Facts memoised for the length of one write transaction.

Some checks run on every workflow step against tables that rarely change: does the run-as
role hold this permission, does any enabled workflow listen to this event type. Inside one
transaction the answer cannot change on SQLite (the transaction holds the only write lock),
and on PostgreSQL a memoised answer is the answer as of the first read — what a check made
when the transaction began would have said. The runner opens a memo with each group
transaction and drops it when the group commits; outside a memo nothing is memoised, so
every other caller (the API, the admin, tests) reads fresh each time.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from contextvars import ContextVar, Token
from typing import Any, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("keyflow_transaction_memo", default=None)


def open_memo() -> Token[dict[Hashable, Any] | None]:
    """Start memoising (at the start of a transaction); pass the token to ``close_memo``."""
    return _memo.set({})


def close_memo(token: Token[dict[Hashable, Any] | None]) -> None:
    """Forget everything memoised since ``open_memo`` (when the transaction ends)."""
    _memo.reset(token)


def memoised(key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, remembered under ``key`` while a memo is open."""
    memo = _memo.get()
    if memo is None:
        return compute()
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def remember(key: Hashable, value: Any) -> None:
    """Note an answer already known in this transaction (no-op when no memo is open)."""
    memo = _memo.get()
    if memo is not None:
        memo[key] = value


def forget(key: Hashable) -> None:
    """Drop a memoised answer this transaction has just changed."""
    memo = _memo.get()
    if memo is not None:
        memo.pop(key, None)
