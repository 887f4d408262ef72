"""Turning step results into StepRun rows: redaction, size bounds, and display previews.

Rendered inputs may carry credentials (a webhook URL, a token in a header); they are redacted
before storage. Outputs are stored in full — a resumed run reads them back (a loop's items, an
earlier step's output) — up to ``KEYFLOW_MAX_VALUE_BYTES``, past which the step fails; what the
API and the pages show is a preview past ``KEYFLOW_MAX_OUTPUT_BYTES``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from directory.redaction import redact  # the one rule: directory events apply it too

__all__ = ["OutputTooLarge", "display_output", "redact", "stored_output", "to_json_safe"]


def to_json_safe(value: Any) -> Any:
    """Round-trip through JSON so what is stored is what later steps would see on resume."""
    return json.loads(json.dumps(value, default=str))


class OutputTooLarge(Exception):
    """A value to store is larger than ``KEYFLOW_MAX_VALUE_BYTES``."""


def _size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode())


def stored_output(output: Any) -> Any:
    """``output`` as stored and as later steps see it (a JSON round trip), or ``OutputTooLarge``."""
    text = json.dumps(output, default=str)
    size, limit = _size(text), settings.KEYFLOW_MAX_VALUE_BYTES
    if size > limit:
        raise OutputTooLarge(f"output of {size:,} bytes is larger than the {limit:,}-byte limit")
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
