"""The one rule for keeping secrets out of what Keyflow shows and logs.

A value under a secret-looking key (``password``, ``token``, ``api_key``, ``secret``,
``authorization``, ``webhook_url``…) is shown as ``***``: in the API (execution input, step input
and output, users' and devices' attributes, events), in the admin, in directory events'
``changes`` and ``snapshot`` as they are written, and in logs. ``None``, ``""`` and booleans are
kept (``password_expired: true`` says nothing secret, and "not set" is worth seeing).

It lives in ``directory`` because events are written here and ``executions`` may import
``directory`` (never the other way round).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

__all__ = ["REDACTED", "is_secret_key", "redact", "redact_changes", "restore_redacted"]

REDACTED = "***"
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credential"
    r"|authorization|bearer|cookie|webhook_url|signing_key",
    re.IGNORECASE,
)


@lru_cache(maxsize=4096)
def is_secret_key(key: Any) -> bool:
    """Whether a value stored under ``key`` is to be redacted."""
    return isinstance(key, str) and _SECRET_KEY.search(key) is not None


def _hides(value: Any) -> bool:
    return value is not None and value != "" and not isinstance(value, bool)


def _has_secret(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, sub in item.items():
                if is_secret_key(key) and _hides(sub):
                    return True
                if isinstance(sub, dict | list):
                    stack.append(sub)
        elif isinstance(item, list):
            stack.extend(sub for sub in item if isinstance(sub, dict | list))
    return False


def redact(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced by ``***``, at any depth.

    The value itself when there is nothing to hide (no copy), else a copy; never recursive, so
    a deeply nested document cannot make it fail.
    """
    if not isinstance(value, dict | list) or not _has_secret(value):
        return value
    root: Any = {} if isinstance(value, dict) else []
    stack = [(value, root)]
    while stack:
        source, target = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            if isinstance(source, dict) and is_secret_key(key) and _hides(item):
                copy: Any = REDACTED
            elif isinstance(item, dict | list):
                copy = {} if isinstance(item, dict) else []
                stack.append((item, copy))
            else:
                copy = item
            if isinstance(target, dict):
                target[key] = copy
            else:
                target.append(copy)
    return root


def redact_changes(changes: Any) -> Any:
    """An event's ``changes`` (``[{"field", "from", "to"}]``) redacted: the values of a field with a
    secret-looking name, and secret-looking keys inside changed objects (``attributes``)."""
    if not isinstance(changes, list):
        return redact(changes)
    redacted = []
    for change in changes:
        if isinstance(change, dict) and is_secret_key(change.get("field")):
            change = {k: (REDACTED if k in ("from", "to") and _hides(v) else v) for k, v in change.items()}
        redacted.append(redact(change))
    return redacted


def restore_redacted(edited: Any, stored: Any) -> Any:
    """``edited`` (an object a person saw redacted and sent back) with each ``***`` under a
    secret-looking key replaced by the stored value, so that saving a form or a ``GET``-then-``PUT``
    does not overwrite a secret with the placeholder. Top-level keys only (custom attributes)."""
    if not isinstance(edited, dict):
        return edited
    stored = stored if isinstance(stored, dict) else {}
    restored = {}
    for key, value in edited.items():
        if value == REDACTED and is_secret_key(key):
            if key in stored:
                restored[key] = stored[key]
            continue  # a placeholder with nothing behind it is not a value to store
        restored[key] = value
    return restored
