"""Secrets at rest: Fernet-encrypted text columns.

Webhook URLs carry their own credentials (a Slack or Teams incoming-webhook URL is a bearer
secret), so they are stored encrypted and never rendered back to a form or an API response.

The key is ``KEYFLOW_SECRETS_KEY``, else one derived from ``SECRET_KEY`` (see ``config/keys.py``:
never the public development key outside DEBUG). Installs that ran on the development key before
it was refused have secrets encrypted under a key anyone can derive: those still decrypt (with a
warning in the log) so nothing breaks on upgrade, and ``manage.py reencrypt_secrets`` encrypts
them again under the configured key.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from config.keys import DEVELOPMENT_SECRET_KEY

logger = logging.getLogger("keyflow.secrets")

_PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(explicit_key: str, secret_key: str) -> Fernet:
    if explicit_key:
        try:
            return Fernet(explicit_key.encode())
        except ValueError as exc:
            raise ImproperlyConfigured("KEYFLOW_SECRETS_KEY must be a urlsafe base64 32-byte Fernet key") from exc
    derived = base64.urlsafe_b64encode(hashlib.sha256(f"keyflow-secrets:{secret_key}".encode()).digest())
    return Fernet(derived)


def get_fernet() -> Fernet:
    """The Fernet instance for the configured key (or one derived from SECRET_KEY)."""
    return _fernet(settings.KEYFLOW_SECRETS_KEY, settings.SECRET_KEY)


def encrypt(plaintext: str) -> str:
    """Encrypt text for storage; the empty string stays empty (no secret set)."""
    if not plaintext:
        return ""
    return _PREFIX + get_fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    """Decrypt a stored value; a value that cannot be decrypted is an error, never returned raw."""
    if not stored:
        return ""
    if not stored.startswith(_PREFIX):
        raise ValueError("Stored secret is not encrypted")
    token = stored[len(_PREFIX) :].encode()
    current = get_fernet()
    try:
        return current.decrypt(token).decode()
    except InvalidToken as exc:
        legacy = _fernet("", DEVELOPMENT_SECRET_KEY)
        if legacy is not current:
            try:
                plaintext = legacy.decrypt(token).decode()
            except InvalidToken:
                pass
            else:
                logger.warning(
                    "a stored secret is encrypted under the public development key; "
                    "run 'manage.py reencrypt_secrets' to encrypt it under the configured key"
                )
                return plaintext
        raise ValueError("Stored secret cannot be decrypted with the configured key") from exc


class EncryptedTextField(models.TextField):
    """A text column whose value is Fernet-encrypted in the database and plain in Python."""

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> str:
        if value is None:
            return ""
        return decrypt(value)

    def to_python(self, value: Any) -> str:
        if value is None:
            return ""
        return str(value)

    def get_prep_value(self, value: Any) -> str:
        value = super().get_prep_value(value)
        return encrypt(value or "")
