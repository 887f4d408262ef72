"""Outbound HTTP from workflows (``http.request``, Slack/Teams/webhook channels) and ``api.call``.

Requests to loopback, private, link-local and other non-public addresses are refused unless the
target's host name is listed in ``KEYFLOW_HTTP_ALLOWED_HOSTS`` (an on-prem service, a test
server): a workflow must not become a way into the network Keyflow runs in.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from config.env import env_float, env_int, env_list, env_str

# Host names (or IP literals) exempt from the public-address rule, matched exactly, case-insensitively.
KEYFLOW_HTTP_ALLOWED_HOSTS = [host.lower().rstrip(".") for host in env_list("KEYFLOW_HTTP_ALLOWED_HOSTS", [])]
# Response bodies past this many bytes are cut there (read while streaming) and marked ``truncated``.
KEYFLOW_HTTP_MAX_RESPONSE_BYTES = env_int("KEYFLOW_HTTP_MAX_RESPONSE_BYTES", 256 * 1024)
KEYFLOW_HTTP_MAX_REDIRECTS = env_int("KEYFLOW_HTTP_MAX_REDIRECTS", 5)
# The longest Retry-After (429/503) a step waits out before its next attempt; longer ones fail the attempt
# at once with the delay in the message.
KEYFLOW_HTTP_MAX_RETRY_AFTER_SECONDS = env_float("KEYFLOW_HTTP_MAX_RETRY_AFTER_SECONDS", 60.0)
# A PEM file of extra certificate authorities to trust (an internal CA), on top of the public ones.
KEYFLOW_HTTP_CA_BUNDLE = env_str("KEYFLOW_HTTP_CA_BUNDLE", "")

if KEYFLOW_HTTP_MAX_RESPONSE_BYTES < 1 or KEYFLOW_HTTP_MAX_REDIRECTS < 0 or KEYFLOW_HTTP_MAX_RETRY_AFTER_SECONDS < 0:
    raise ImproperlyConfigured(
        "KEYFLOW_HTTP_MAX_RESPONSE_BYTES must be positive; KEYFLOW_HTTP_MAX_REDIRECTS and "
        "KEYFLOW_HTTP_MAX_RETRY_AFTER_SECONDS not negative"
    )
