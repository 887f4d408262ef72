"""Turning step results into StepRun rows: redaction and output truncation.

Rendered inputs may carry credentials (a webhook URL, a token in a header); they are
redacted before storage. Outputs past a size limit are stored as a marked, truncated preview
so one chatty API response cannot bloat the history.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings

from directory.rows import JSONText


def redact(value: Any) -> Any:
    """``value`` with the values of secret-looking keys replaced by ``***``: the one rule, kept in
    ``directory.redaction`` because directory events apply it too (imported here, not at the top,
    to keep this module's imports as they are)."""
    from directory.redaction import redact as redact_secrets

    return redact_secrets(value)


def to_json_safe(value: Any) -> Any:
    """Round-trip through JSON so what is stored is what later steps would see on resume."""
    return json.loads(json.dumps(value, default=str))


def encode_output(output: Any, limit: int | None = None) -> tuple[Any, bool, str]:
    """``(stored_output, truncated, text)``: the output to store — its JSON text itself
    (``JSONText``, written as it is), or a preview past ``limit`` bytes — and that text, from one
    encoding: the runner decodes it once for later steps' scope (``json.loads(text)`` is
    ``to_json_safe(output)``)."""
    limit = settings.KEYFLOW_MAX_OUTPUT_BYTES if limit is None else limit
    text = json.dumps(output, default=str)
    size = len(text) if text.isascii() else len(text.encode())
    if size <= limit:
        return JSONText(text), False, text
    preview = text.encode()[: max(limit - 200, 0)].decode(errors="ignore")
    return {"truncated": True, "size_bytes": size, "preview": preview}, True, text
