"""Logging to stderr; the level comes from KEYFLOW_LOG_LEVEL."""

from __future__ import annotations

from config.env import env_str

LOG_LEVEL = env_str("KEYFLOW_LOG_LEVEL", "INFO").upper()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "keyflow": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "django_q": {
            "handlers": ["stderr"],
            "level": env_str("Q_LOG_LEVEL", "WARNING").upper(),
            "propagate": False,
        },
    },
}
