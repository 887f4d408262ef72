"""What ``make bench-http`` creates in its scratch database before starting the servers.

- an Administrator admin account and its API token (the load authenticates as a real admin);
- the run workflow: the equivalent of n8n's Webhook → If → 3 Set nodes — a manual trigger whose
  input is validated against a schema, a switch on ``input.type``, and in its case three
  ``user.update`` steps (the cheapest actions that write, as in ``make bench``) on one user;
- two workflows on ``user.created`` with one step each, for the directory write path;
- a workflow the floor view's rows belong to.

All through the services, as an operator's script would.
"""

from __future__ import annotations

from dataclasses import dataclass

from rest_framework.authtoken.models import Token

from directory import services as ds
from directory.account_services import admin_account_create
from directory.actors import Actor
from directory.models import AdminRole
from directory.roles import ADMINISTRATOR
from workflows.services import workflow_create

ACTOR = Actor.system("bench-http")
TARGET_USER = "bench.target"

RUN_DEFINITION = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {
        "schema": {
            "type": "object",
            "required": ["type", "user"],
            "properties": {"type": {"type": "string"}, "user": {"type": "object"}},
        }
    },
    "do": [
        {
            "route": {
                "switch": [
                    {
                        "created": {
                            "when": {"left": "{{ input.type }}", "op": "eq", "right": "user.created"},
                            "do": [
                                {
                                    "title": {
                                        "call": "user.update",
                                        "with": {"user": TARGET_USER, "job_title": "{{ input.user.uid }}"},
                                    }
                                },
                                {
                                    "dept": {
                                        "call": "user.update",
                                        "with": {"user": TARGET_USER, "department": "D-{{ input.user.uid }}"},
                                    }
                                },
                                {
                                    "attr": {
                                        "call": "user.update",
                                        "with": {"user": TARGET_USER, "attributes": {"last_dn": "{{ input.user.dn }}"}},
                                    }
                                },
                            ],
                        }
                    },
                    {"default": {"do": []}},
                ]
            }
        }
    ],
}


def _event_definition(step: dict) -> dict:
    return {"dsl": "1.0", "trigger": {"type": "event", "event": "user.created"}, "do": [step]}


EVENT_DEFINITIONS = {
    "bench onboarding: tag": _event_definition(
        {"tag": {"call": "user.update", "with": {"user": "{{ event.user.id }}", "attributes": {"onboarded": True}}}}
    ),
    "bench onboarding: location": _event_definition(
        {"where": {"call": "user.update", "with": {"user": "{{ event.user.id }}", "location": "Berlin"}}}
    ),
}

FLOOR_DEFINITION = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "do": [{"noop": {"switch": [{"default": {"do": []}}]}}],
}


@dataclass(frozen=True)
class Fixtures:
    token: str
    run_workflow: int
    event_workflows: tuple[int, ...]
    floor_workflow: int
    floor_version: int


def create() -> Fixtures:
    """Create the admin, its token, the target user and the workflows; their ids for the load."""
    role = AdminRole.objects.get(key=ADMINISTRATOR)
    admin = admin_account_create(actor=ACTOR, username="bench-admin", password=None, role=role)
    token = Token.objects.create(user=admin)
    ds.user_create(actor=ACTOR, username=TARGET_USER, email=f"{TARGET_USER}@bench.example")
    run = workflow_create(name="bench http: if + 3 steps", definition=RUN_DEFINITION, run_as=role, actor=ACTOR)
    events = [
        workflow_create(name=name, definition=definition, run_as=role, actor=ACTOR)
        for name, definition in EVENT_DEFINITIONS.items()
    ]
    floor = workflow_create(name="bench http: floor", definition=FLOOR_DEFINITION, run_as=role, actor=ACTOR)
    return Fixtures(
        token=token.key,
        run_workflow=run.pk,
        event_workflows=tuple(w.pk for w in events),
        floor_workflow=floor.pk,
        floor_version=floor.current_version_id,
    )
