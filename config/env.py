"""Typed readers for environment variables.

Settings read the environment only through these helpers so that a malformed value stops the
process at start-up with the variable's name in the message, instead of surfacing later as a
confusing runtime error.
"""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str:
    """Return the variable as text; without a default, a missing variable is an error."""
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise ImproperlyConfigured(f"Environment variable {name} is required")
        return default
    return value


def env_bool(name: str, default: bool = False) -> bool:
    """Return the variable as a boolean; anything but a known spelling is an error."""
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"Environment variable {name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    """Return the variable as an integer."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    """Return the variable as a float."""
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name} must be a number, got {value!r}") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    """Return a comma-separated variable as a list of stripped, non-empty items."""
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def env_header_pair(name: str) -> tuple[str, str] | None:
    """A header and the value that marks a request, ``X-Forwarded-Proto: https``, as Django's
    ``SECURE_PROXY_SSL_HEADER`` wants it (``("HTTP_X_FORWARDED_PROTO", "https")``); None when unset."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    header, separator, expected = value.partition(":")
    header, expected = header.strip(), expected.strip()
    if not separator or not header or not expected or " " in header:
        raise ImproperlyConfigured(
            f"Environment variable {name} must look like 'X-Forwarded-Proto: https', got {value!r}"
        )
    meta = header.upper().replace("-", "_")
    return (meta if meta.startswith("HTTP_") else f"HTTP_{meta}", expected)
