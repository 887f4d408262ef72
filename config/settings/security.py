"""HTTPS, cookies and response headers.

Served over plain HTTP (``make run``, a first try of an install) nothing here changes Django's
defaults. Behind a TLS-terminating proxy set ``KEYFLOW_HTTPS=1`` and name the header the proxy
sets (``DJANGO_SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto: https"``, only if the proxy always sets
or strips it): session and CSRF cookies are then ``Secure`` and browsers are told to use HTTPS
only (HSTS, sent on HTTPS responses). Each can be set on its own too.
"""

from __future__ import annotations

from config.env import env_bool, env_header_pair, env_int, env_str

KEYFLOW_HTTPS = env_bool("KEYFLOW_HTTPS", False)

SECURE_PROXY_SSL_HEADER = env_header_pair("DJANGO_SECURE_PROXY_SSL_HEADER")
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", KEYFLOW_HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", KEYFLOW_HTTPS)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 365 * 24 * 3600 if KEYFLOW_HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy (config/csp.py): what the admin, Swagger UI and Keyflow's pages need, and
# no inline script. KEYFLOW_CSP replaces the whole policy (empty: no header); with
# KEYFLOW_CSP_REPORT_ONLY the browser reports violations instead of blocking.
KEYFLOW_CSP = env_str(
    "KEYFLOW_CSP",
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)
KEYFLOW_CSP_REPORT_ONLY = env_bool("KEYFLOW_CSP_REPORT_ONLY", False)
