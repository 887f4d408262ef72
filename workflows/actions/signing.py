"""Signatures on generic webhooks, so a receiver can tell Keyflow sent the body and when.

``X-Keyflow-Signature: sha256=<hex HMAC-SHA256 over "<timestamp>.<body>" with the channel's
signing key>``, with the timestamp (Unix seconds) in ``X-Keyflow-Timestamp``. Signing the timestamp
with the body lets a receiver refuse replays older than a few minutes. The README's "Verifying
webhook signatures" shows the receiver's side.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Keyflow-Timestamp"
SIGNATURE_HEADER = "X-Keyflow-Signature"


def signature(body: bytes, *, key: str, timestamp: int) -> str:
    """The signature header's value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(key.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signature_headers(body: bytes, *, key: str, timestamp: int | None = None) -> dict[str, str]:
    """The timestamp header, and the signature header when the channel has a signing key."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    headers = {TIMESTAMP_HEADER: str(timestamp)}
    if key:
        headers[SIGNATURE_HEADER] = signature(body, key=key, timestamp=timestamp)
    return headers
