"""Fixtures for the builder's pages: a saved manual workflow, an HTMX-speaking client."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from directory.models import AdminRole
from workflows.services import workflow_create

MANUAL: dict[str, Any] = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {"schema": {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}}}},
    "do": [
        {"suspend": {"call": "user.suspend", "with": {"user": "{{ input.email }}"}}},
        {
            "check": {
                "switch": [
                    {
                        "branch_1": {
                            "when": {"left": "{{ input.email }}", "op": "ends_with", "right": "@x.com"},
                            "do": [
                                {
                                    "retitle": {
                                        "call": "user.update",
                                        "with": {"user": "{{ input.email }}", "job_title": "Gone"},
                                    }
                                }
                            ],
                        }
                    },
                    {"default": {"do": []}},
                ]
            }
        },
    ],
}


class HtmxClient:
    """The test client, sending what htmx sends (``HX-Request``) so views answer with partials."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def get(self, url: str, data: dict | None = None, **extra: Any):
        return self.client.get(url, data or {}, HTTP_HX_REQUEST="true", **extra)

    def post(self, url: str, data: Any = None, **extra: Any):
        return self.client.post(url, data or {}, HTTP_HX_REQUEST="true", **extra)


@pytest.fixture
def hx(client: Client) -> HtmxClient:
    return HtmxClient(client)


@pytest.fixture
def help_desk_role() -> AdminRole:
    return AdminRole.objects.get(key="help-desk")


@pytest.fixture
def saved(administrator):
    """A saved manual workflow (version 1) running as Administrator."""
    return workflow_create(
        name="Offboard",
        definition=MANUAL,
        run_as=AdminRole.objects.get(key="administrator"),
        actor=administrator,
    )
