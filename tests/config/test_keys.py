"""Keys: never the public development key outside DEBUG (issue 17).

With the documented defaults (no ``DJANGO_SECRET_KEY`` nor ``KEYFLOW_SECRETS_KEY``, DEBUG off)
Keyflow used the development key from this repository, so stored connection secrets could be
decrypted offline from the database file. Now a random key is generated into the data directory
on first start, with a message saying where and that it must be backed up; an explicitly set key
is used as before, so secrets stored under it keep working.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from config.keys import DEVELOPMENT_SECRET_KEY, KEY_FILE_NAME, resolve_secret_key
from directory import services
from directory.models import Connection
from directory.secrets import _fernet, decrypt, encrypt

ROOT = Path(__file__).resolve().parents[2]


def _settings_in_a_fresh_process(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEYFLOW_"))}
    return subprocess.run(
        [sys.executable, "-c", "from django.conf import settings; print(settings.SECRET_KEY)"],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_documented_defaults_do_not_use_the_development_key(tmp_path: Path) -> None:
    first = _settings_in_a_fresh_process({"KEYFLOW_VAR_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    key = first.stdout.strip()
    assert key and key != DEVELOPMENT_SECRET_KEY
    key_file = tmp_path / KEY_FILE_NAME
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert str(key_file) in first.stderr and "BACK IT UP" in first.stderr

    again = _settings_in_a_fresh_process({"KEYFLOW_VAR_DIR": str(tmp_path)})
    assert again.stdout.strip() == key  # the same key on every start, announced once
    assert "BACK IT UP" not in again.stderr


def test_an_explicit_key_and_debug_are_as_before(tmp_path: Path) -> None:
    explicit = _settings_in_a_fresh_process({"KEYFLOW_VAR_DIR": str(tmp_path), "DJANGO_SECRET_KEY": "k" * 50})
    assert explicit.stdout.strip() == "k" * 50
    debug = _settings_in_a_fresh_process({"KEYFLOW_VAR_DIR": str(tmp_path), "DJANGO_DEBUG": "1"})
    assert debug.stdout.strip() == DEVELOPMENT_SECRET_KEY  # make run
    assert not (tmp_path / KEY_FILE_NAME).exists()


def test_the_development_key_is_refused_outside_debug(tmp_path: Path) -> None:
    with pytest.raises(ImproperlyConfigured, match="public development key"):
        resolve_secret_key(configured=DEVELOPMENT_SECRET_KEY, debug=False, var_dir=tmp_path)
    assert resolve_secret_key(configured=DEVELOPMENT_SECRET_KEY, debug=True, var_dir=tmp_path) == DEVELOPMENT_SECRET_KEY


def test_an_empty_or_unwritable_key_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / KEY_FILE_NAME).write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        resolve_secret_key(configured="", debug=False, var_dir=tmp_path)
    with pytest.raises(ImproperlyConfigured, match="set DJANGO_SECRET_KEY"):
        resolve_secret_key(configured="", debug=False, var_dir=tmp_path / "missing" / "dir")


def _resolve(var_dir: str) -> str:
    return resolve_secret_key(configured="", debug=False, var_dir=Path(var_dir))


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    with ProcessPoolExecutor(4) as pool:
        keys = set(pool.map(_resolve, [str(tmp_path)] * 8))
    assert len(keys) == 1
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE_NAME]  # nothing left aside


# --- secrets stored under each key -------------------------------------------------------------------


def _raw_secret(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM directory_connection WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def _connection(secret: str) -> Connection:
    return services.connection_create(
        actor=None, name=f"HR {secret}", base_url="https://hr.example.com", auth_type="bearer", secret=secret
    )


@pytest.mark.django_db
def test_secrets_stored_under_an_explicit_key_keep_working() -> None:
    with override_settings(SECRET_KEY="an-explicit-key-" + "x" * 40, KEYFLOW_SECRETS_KEY=""):
        conn = _connection("token-1")
    with override_settings(SECRET_KEY="an-explicit-key-" + "x" * 40, KEYFLOW_SECRETS_KEY=""):
        assert Connection.objects.get(pk=conn.pk).secret == "token-1"
    fernet_key = Fernet.generate_key().decode()
    with override_settings(KEYFLOW_SECRETS_KEY=fernet_key):
        conn = _connection("token-2")
        assert Connection.objects.get(pk=conn.pk).secret == "token-2"


@pytest.mark.django_db
def test_secrets_stored_under_the_development_key_still_decrypt_and_can_be_reencrypted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with override_settings(SECRET_KEY=DEVELOPMENT_SECRET_KEY, KEYFLOW_SECRETS_KEY=""):
        conn = _connection("old-token")
    legacy = _fernet("", DEVELOPMENT_SECRET_KEY)
    assert legacy.decrypt(_raw_secret(conn.pk)[len("fernet:") :].encode()) == b"old-token"

    with override_settings(SECRET_KEY="a-generated-key-" + "y" * 40, KEYFLOW_SECRETS_KEY=""):
        with caplog.at_level("WARNING", logger="keyflow.secrets"):
            assert Connection.objects.get(pk=conn.pk).secret == "old-token"
        assert "reencrypt_secrets" in caplog.text
        call_command("reencrypt_secrets", stdout=open(os.devnull, "w"))  # noqa: SIM115
        stored = _raw_secret(conn.pk)
        assert decrypt(stored) == "old-token"
        with pytest.raises(Exception):  # noqa: B017
            legacy.decrypt(stored[len("fernet:") :].encode())


@pytest.mark.django_db
def test_a_value_under_an_unknown_key_is_still_an_error() -> None:
    with override_settings(KEYFLOW_SECRETS_KEY=Fernet.generate_key().decode()):
        stored = encrypt("x")
    with pytest.raises(ValueError, match="cannot be decrypted"):
        decrypt(stored)
