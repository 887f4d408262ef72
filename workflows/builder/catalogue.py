"""What the pickers list, grouped for people: actions by category, event types by resource.

Both come from their registries (``workflows.actions.registry``, ``directory.event_types``), so
an action or event type added there appears in the builder with nothing else to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from directory.choices import ResourceType
from directory.event_types import EVENT_TYPES
from workflows.actions.registry import all_actions
from workflows.builder.summaries import event_phrase

__all__ = ["ActionEntry", "EventEntry", "actions_by_category", "events_by_category"]


@dataclass(frozen=True)
class ActionEntry:
    key: str
    label: str
    description: str

    @property
    def search_text(self) -> str:
        return f"{self.label} {self.key} {self.description}".lower()


@dataclass(frozen=True)
class EventEntry:
    key: str
    phrase: str
    description: str

    @property
    def search_text(self) -> str:
        return f"{self.key} {self.phrase} {self.description}".lower()


def actions_by_category() -> list[tuple[str, list[ActionEntry]]]:
    """``[(category, [action, …]), …]``, categories and actions sorted by name."""
    groups: dict[str, list[ActionEntry]] = {}
    for action in all_actions():
        groups.setdefault(action.category, []).append(ActionEntry(action.key, action.label, action.description))
    return [(category, sorted(groups[category], key=lambda a: a.label)) for category in sorted(groups)]


def _resource_label(resource_type: Any) -> str:
    try:
        return str(ResourceType(resource_type).label)
    except ValueError:
        return str(resource_type).replace("_", " ").capitalize()


def events_by_category() -> list[tuple[str, list[EventEntry]]]:
    """``[(resource, [event type, …]), …]`` in the registry's order."""
    groups: dict[str, list[EventEntry]] = {}
    for event_type in EVENT_TYPES.values():
        label = _resource_label(event_type.resource_type)
        groups.setdefault(label, []).append(
            EventEntry(event_type.key, event_phrase(event_type.key).capitalize(), event_type.description)
        )
    return list(groups.items())
