"""A Content-Security-Policy header on every response (Django 5.2 has none built in).

The policy is one setting, ``KEYFLOW_CSP`` (see ``config/settings/security.py``); a view that
sets its own header keeps it. Small on purpose: no nonces, since no page of ours needs inline
script — the API docs use drf-spectacular's split Swagger view, whose start-up script is a file.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

__all__ = ["ContentSecurityPolicyMiddleware"]


class ContentSecurityPolicyMiddleware:
    """Adds ``Content-Security-Policy`` (or ``-Report-Only``) to responses that have none."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.policy = " ".join(settings.KEYFLOW_CSP.split())
        report_only = settings.KEYFLOW_CSP_REPORT_ONLY
        self.header = "Content-Security-Policy-Report-Only" if report_only else "Content-Security-Policy"

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and self.header not in response:
            response[self.header] = self.policy
        return response
