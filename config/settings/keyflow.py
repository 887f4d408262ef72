"""Keyflow's own settings."""

from __future__ import annotations

from config.env import env_int, env_str

# Fernet key for secrets at rest (channel webhooks, signing keys). When unset, a key is
# derived from SECRET_KEY so the embedded default works; set it explicitly in production so
# rotating SECRET_KEY does not make stored secrets unreadable.
KEYFLOW_SECRETS_KEY = env_str("KEYFLOW_SECRETS_KEY", "")

# Past this depth, events caused by workflow executions trigger no further workflows.
KEYFLOW_MAX_TRIGGER_DEPTH = env_int("KEYFLOW_MAX_TRIGGER_DEPTH", 3)
