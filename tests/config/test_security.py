"""HTTPS settings behind a proxy, secure cookies, HSTS and the Content-Security-Policy header (issue 17).

Before, the session cookie was never ``Secure``, no HSTS header was sent and there was no
Content-Security-Policy; ``tests/e2e/test_csp.py`` checks in Chromium that the pages pass it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import Client, RequestFactory, override_settings

from config.csp import ContentSecurityPolicyMiddleware
from config.env import env_header_pair

ROOT = Path(__file__).resolve().parents[2]
NAMES = [
    "SECURE_PROXY_SSL_HEADER",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "KEYFLOW_CSP_REPORT_ONLY",
]


def _settings(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "KEYFLOW_"))}
    code = f"import json; from django.conf import settings as s; print(json.dumps([getattr(s, n) for n in {NAMES!r}]))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", "KEYFLOW_VAR_DIR": str(tmp_path), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return dict(zip(NAMES, json.loads(done.stdout), strict=True))


def test_plain_http_keeps_django_s_defaults(tmp_path: Path) -> None:
    assert _settings({}, tmp_path) == {
        "SECURE_PROXY_SSL_HEADER": None,
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_HSTS_SECONDS": 0,
        "KEYFLOW_CSP_REPORT_ONLY": False,
    }


def test_https_behind_a_proxy(tmp_path: Path) -> None:
    env = {"KEYFLOW_HTTPS": "1", "DJANGO_SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto: https"}
    assert _settings(env, tmp_path) == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "KEYFLOW_CSP_REPORT_ONLY": False,
    }
    env["DJANGO_SECURE_HSTS_SECONDS"] = "600"
    assert _settings(env, tmp_path)["SECURE_HSTS_SECONDS"] == 600


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("X-Forwarded-Proto: https", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("HTTP_X_FORWARDED_PROTO:https", ("HTTP_X_FORWARDED_PROTO", "https")),
        ("X-Forwarded-Ssl: on", ("HTTP_X_FORWARDED_SSL", "on")),
        ("", None),
    ],
)
def test_proxy_header_setting(monkeypatch: pytest.MonkeyPatch, value: str, expected: object) -> None:
    monkeypatch.setenv("DJANGO_SECURE_PROXY_SSL_HEADER", value)
    assert env_header_pair("DJANGO_SECURE_PROXY_SSL_HEADER") == expected


@pytest.mark.parametrize("value", ["https", "X-Forwarded-Proto:", "X Forwarded: https"])
def test_a_malformed_proxy_header_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DJANGO_SECURE_PROXY_SSL_HEADER", value)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECURE_PROXY_SSL_HEADER"):
        env_header_pair("DJANGO_SECURE_PROXY_SSL_HEADER")


@pytest.mark.django_db
def test_behind_an_https_proxy_cookies_are_secure_and_hsts_is_sent(client: Client, billing_admin: object) -> None:
    with override_settings(
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        SESSION_COOKIE_SECURE=True,
        CSRF_COOKIE_SECURE=True,
        SECURE_HSTS_SECONDS=31536000,
    ):
        page = client.get("/admin/login/", headers={"x-forwarded-proto": "https"})
        assert page["Strict-Transport-Security"] == "max-age=31536000"
        assert page.cookies["csrftoken"]["secure"] is True
        client.force_login(billing_admin)  # type: ignore[arg-type]
        assert client.cookies["sessionid"]["secure"] is True
        plain = client.get("/admin/login/")
        assert "Strict-Transport-Security" not in plain  # only on HTTPS responses


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/v1/users/", "/api/schema/"])
def test_every_response_carries_the_policy(client: Client, billing_admin: object, path: str) -> None:
    client.force_login(billing_admin)  # type: ignore[arg-type]
    policy = client.get(path)["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.mark.django_db
def test_the_api_docs_page_has_no_inline_script_or_style(client: Client, billing_admin: object) -> None:
    client.force_login(billing_admin)  # type: ignore[arg-type]
    html = client.get("/api/docs/").content.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert "<style" not in html
    script = client.get("/api/docs/?script=")
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()


def test_the_policy_is_one_setting_and_may_report_only() -> None:
    request = RequestFactory().get("/")

    def view(_request: object) -> HttpResponse:
        return HttpResponse("ok")

    with override_settings(KEYFLOW_CSP="default-src  'none';\n img-src 'self'", KEYFLOW_CSP_REPORT_ONLY=True):
        response = ContentSecurityPolicyMiddleware(view)(request)
    assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'; img-src 'self'"
    assert "Content-Security-Policy" not in response
    with override_settings(KEYFLOW_CSP=""):
        assert "Content-Security-Policy" not in ContentSecurityPolicyMiddleware(view)(request)

    def own(_request: object) -> HttpResponse:
        response = HttpResponse("ok")
        response["Content-Security-Policy"] = "default-src 'none'"
        return response

    assert ContentSecurityPolicyMiddleware(own)(request)["Content-Security-Policy"] == "default-src 'none'"
