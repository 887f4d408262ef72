"""The canvas as data: the trigger card, then lanes of task cards, nested for If / else and loops.

The template draws what this builds and makes no decisions of its own: each card knows its
path (the handle every edit uses), its title, its one-line summary, its problems, and its lanes
(an If / else's branches side by side, a loop's body).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from workflows.actions.registry import get_action
from workflows.builder.problems import TRIGGER, PlacedProblems
from workflows.builder.summaries import condition_summary, task_summary, trigger_summary

__all__ = ["Card", "Lane", "TriggerCard", "build_lanes", "build_trigger", "slug"]

_TRIGGER_TITLES = {"manual": "Manual trigger", "event": "Event trigger", "schedule": "Schedule trigger"}


def slug(path: str) -> str:
    """A DOM id for a path (``do[1].check`` → ``do-1-check``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "-", path).strip("-")


@dataclass
class Lane:
    """A task list: the top level, one branch of an If / else, or a loop's body."""

    path: str
    label: str = ""
    cards: list[Card] = field(default_factory=list)
    kind: str = "main"  # main | branch | default | body
    case_index: int | None = None
    removable: bool = False

    @property
    def dom_id(self) -> str:
        return f"lane-{slug(self.path)}"

    def add_id(self, index: int) -> str:
        """The id of the + that inserts at ``index`` (``add-do-0``: before the first card)."""
        return f"add-{slug(self.path)}-{index}"

    def add_label(self, index: int) -> str:
        where = f"{self.label}, position {index + 1}" if self.label else f"position {index + 1}"
        return f"Add a task here ({where})"

    @property
    def start_add_id(self) -> str:
        return self.add_id(0)

    @property
    def start_add_label(self) -> str:
        return self.add_label(0)


@dataclass
class Card:
    """One task."""

    path: str
    name: str
    kind: str  # call | switch | for | unknown
    title: str
    summary: str
    category: str = ""
    problems: list[str] = field(default_factory=list)
    lanes: list[Lane] = field(default_factory=list)
    has_guard: bool = False
    add_after_id: str = ""  # the + under the card, and what it says to a screen reader
    add_after_label: str = ""

    @property
    def dom_id(self) -> str:
        return f"card-{slug(self.path)}"

    @property
    def open_id(self) -> str:
        return f"open-{slug(self.path)}"

    @property
    def vals(self) -> str:
        """``hx-vals`` naming this card (JSON; the template escapes it into the attribute)."""
        return json.dumps({"path": self.path})

    @property
    def vals_up(self) -> str:
        return json.dumps({"path": self.path, "direction": "up"})

    @property
    def vals_down(self) -> str:
        return json.dumps({"path": self.path, "direction": "down"})


@dataclass
class TriggerCard:
    """The first card: what starts the workflow."""

    kind: str
    title: str
    summary: str
    problems: list[str] = field(default_factory=list)
    dom_id: str = "card-trigger"


def build_trigger(doc: dict[str, Any], placed: PlacedProblems | None = None) -> TriggerCard:
    trigger = doc.get("trigger") if isinstance(doc.get("trigger"), dict) else {}
    kind = trigger.get("type", "")
    summary = trigger_summary(trigger)
    if kind == "manual":
        properties = ((doc.get("input") or {}).get("schema") or {}).get("properties") or {}
        summary = f"Run by an admin with input: {', '.join(properties)}" if properties else "Run by an admin"
    return TriggerCard(
        kind=kind,
        title=_TRIGGER_TITLES.get(kind, "Trigger"),
        summary=summary,
        problems=placed.messages(TRIGGER) if placed else [],
    )


def _title(task: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, title, category) of a task."""
    if "call" in task:
        action = get_action(task["call"]) if isinstance(task.get("call"), str) else None
        if action is None:
            return "call", "Unknown action", ""
        return "call", action.label, action.category
    if "switch" in task:
        return "switch", "If / else", "Flow"
    if "for" in task:
        return "for", "Loop", "Flow"
    return "unknown", "Unreadable task", ""


def _branch_lanes(path: str, cases: Any) -> list[Lane]:
    lanes = []
    if not isinstance(cases, list):
        return lanes
    conditional = sum(1 for c in cases if isinstance(c, dict) and "default" not in c)
    position = 0
    for index, case in enumerate(cases):
        if not isinstance(case, dict) or len(case) != 1:
            continue
        ((name, body),) = case.items()
        body = body if isinstance(body, dict) else {}
        if name == "default":
            label, kind = "Otherwise", "default"
        else:
            label = ("If " if position == 0 else "Else if ") + condition_summary(body.get("when"))
            kind = "branch"
            position += 1
        lanes.append(
            Lane(
                path=f"{path}.switch[{index}].{name}.do",
                label=label,
                kind=kind,
                case_index=index,
                removable=name == "default" or conditional > 1,
            )
        )
    return lanes


def build_lanes(doc: dict[str, Any], placed: PlacedProblems | None = None) -> Lane:
    """The main lane with every card and nested lane, problems attached."""
    return _lane(doc.get("do"), "do", placed, kind="main")


def _lane(tasks: Any, path: str, placed: PlacedProblems | None, **kwargs: Any) -> Lane:
    lane = Lane(path=path, **kwargs)
    if not isinstance(tasks, list):
        return lane
    for index, entry in enumerate(tasks):
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((name, task),) = entry.items()
        task_path = f"{path}[{index}].{name}"
        task = task if isinstance(task, dict) else {}
        kind, title, category = _title(task)
        card = Card(
            path=task_path,
            name=name,
            kind=kind,
            title=title,
            summary=task_summary(task),
            category=category,
            problems=placed.messages(task_path) if placed else [],
            has_guard=task.get("if") not in (None, ""),
        )
        card.add_after_id = lane.add_id(len(lane.cards) + 1)
        card.add_after_label = lane.add_label(len(lane.cards) + 1)
        if kind == "switch":
            for branch in _branch_lanes(task_path, task.get("switch")):
                cases = task["switch"]
                body = next(iter(cases[branch.case_index].values()))
                filled = _lane(body.get("do") if isinstance(body, dict) else None, branch.path, placed)
                branch.cards = filled.cards
                card.lanes.append(branch)
        elif kind == "for":
            loop = task.get("for") if isinstance(task.get("for"), dict) else {}
            body = _lane(task.get("do"), f"{task_path}.do", placed, kind="body")
            body.label = f"For each {loop.get('each') or 'item'}"
            card.lanes.append(body)
        lane.cards.append(card)
    return lane
