"""Outgoing email (``notify.email``, email-list channels) through Django's email backend.

SMTP when ``EMAIL_HOST`` is set; the console backend (messages printed to stderr) in development
(``DJANGO_DEBUG``) or when no host is configured, so a fresh install never tries to reach a mail
server it was not told about. ``EMAIL_BACKEND`` overrides the choice.
"""

from __future__ import annotations

from config.env import env_bool, env_float, env_int, env_str

from .base import DEBUG

EMAIL_HOST = env_str("EMAIL_HOST", "")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
# Seconds an SMTP connection may block; a step's own deadline shortens it further.
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 30.0)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "keyflow@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

_SMTP = "django.core.mail.backends.smtp.EmailBackend"
_CONSOLE = "django.core.mail.backends.console.EmailBackend"
EMAIL_BACKEND = env_str("EMAIL_BACKEND", _CONSOLE if DEBUG or not EMAIL_HOST else _SMTP)
