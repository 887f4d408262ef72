"""Django's ``SECRET_KEY`` when none is configured: never the public development key outside DEBUG.

``SECRET_KEY`` signs sessions and password-reset links, and (unless ``KEYFLOW_SECRETS_KEY`` is set)
the key that encrypts stored secrets — connection tokens, webhook URLs — is derived from it. The
development key is in this repository, so a database encrypted with it can be read offline by
anyone. Hence, in order:

1. ``DJANGO_SECRET_KEY`` when set (refused if it is the development key and DEBUG is off);
2. with DEBUG on (``make run``), the development key, as before;
3. otherwise the key in ``<KEYFLOW_VAR_DIR>/secret_key``, generated on first start (random, file
   mode 0600) with a loud message on stderr saying where it is and that it must be backed up.

A fresh install and ``make run`` work without configuration; an install that already set its
key keeps it, and so keeps reading its stored secrets.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

__all__ = ["DEVELOPMENT_SECRET_KEY", "KEY_FILE_NAME", "resolve_secret_key"]

DEVELOPMENT_SECRET_KEY = "keyflow-insecure-development-key-change-me-in-production"
KEY_FILE_NAME = "secret_key"

_BANNER = """
==============================================================================================
KEYFLOW: no DJANGO_SECRET_KEY is set, so a random secret key was generated and saved to

    {path}

(readable by this user only). It signs sessions and encrypts the secrets Keyflow stores
(connection tokens, webhook URLs). BACK IT UP with the database: without it those secrets
cannot be decrypted. Every process of this installation must read the same key: on more than
one machine, set DJANGO_SECRET_KEY (or copy this file) everywhere instead.
==============================================================================================
"""


def resolve_secret_key(*, configured: str, debug: bool, var_dir: Path) -> str:
    """The ``SECRET_KEY`` to use (see the module's doc)."""
    if configured:
        if configured == DEVELOPMENT_SECRET_KEY and not debug:
            raise ImproperlyConfigured(
                "DJANGO_SECRET_KEY is Keyflow's public development key; set a random one, or unset it "
                f"to have Keyflow generate one in {var_dir / KEY_FILE_NAME}"
            )
        return configured
    if debug:
        return DEVELOPMENT_SECRET_KEY
    return _key_from_file(var_dir / KEY_FILE_NAME)


def _read(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: restore it from a backup, or set DJANGO_SECRET_KEY")
    return key


def _key_from_file(path: Path) -> str:
    """The key in ``path``, created on first use. Processes starting together (web workers, the
    worker cluster) agree on one: the file is written aside and linked into place, which fails
    for all but the first."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    key = get_random_secret_key()
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        descriptor = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(key + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(aside, path)
        except FileExistsError:
            return _read(path)  # another process was first
        finally:
            aside.unlink(missing_ok=True)
    except OSError as exc:
        raise ImproperlyConfigured(f"cannot write a secret key to {path} ({exc}); set DJANGO_SECRET_KEY") from exc
    sys.stderr.write(_BANNER.format(path=path))
    return key
