"""Turning step results into StepRun rows: redaction, size bounds, and display previews.

Rendered inputs may carry credentials (a webhook URL, a token in a header); they are redacted
before storage. Outputs are stored in full — a resumed run reads them back (a loop's items, an
earlier step's output) — up to ``KEYFLOW_MAX_VALUE_BYTES``, past which the step fails; what the
API and the pages show is a preview past ``KEYFLOW_MAX_OUTPUT_BYTES``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings

REDACTED = "***"
_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api[_-]?key|authorization|webhook_url|signing_key|cookie)", re.I)


def redact(value: Any) -> Any:
    """A copy of ``value`` with the values of secret-looking keys replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def to_json_safe(value: Any) -> Any:
    """Round-trip through JSON so what is stored is what later steps would see on resume."""
    return json.loads(json.dumps(value, default=str))


class ValueTooLarge(Exception):
    """A value to store is larger than ``KEYFLOW_MAX_VALUE_BYTES``."""


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def stored_output(output: Any) -> Any:
    """``output`` as stored and as later steps see it (a JSON round trip), or ``ValueTooLarge``."""
    text = json.dumps(output, default=str)
    size, limit = _size(text), settings.KEYFLOW_MAX_VALUE_BYTES
    if size > limit:
        raise ValueTooLarge(f"output of {size:,} bytes is larger than the {limit:,}-byte limit")
    return json.loads(text)


def display_output(output: Any, limit: int | None = None) -> tuple[Any, bool]:
    """``(value, truncated)``: the output itself, or a marked preview past ``limit`` bytes."""
    limit = settings.KEYFLOW_MAX_OUTPUT_BYTES if limit is None else limit
    if output is None:
        return None, False
    text = json.dumps(output, default=str)
    size = _size(text)
    if size <= limit:
        return output, False
    preview = text.encode()[: max(limit - 200, 0)].decode(errors="ignore")
    return {"truncated": True, "size_bytes": size, "preview": preview}, True
