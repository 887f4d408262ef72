"""Placing the validator's problems on the canvas: which card, and which field of its panel.

A problem's path (``do[2].each.do[0].tag.with.user``) belongs to the innermost task whose path
it starts with; ``trigger.…`` and ``input.…`` belong to the trigger card; ``name``, ``run_as``
and the document itself to the top bar. Within a card, the rest of the path
(``with.user``) is matched to the longest field key of the panel it starts with.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from workflows.dsl import Problem, iter_tasks

__all__ = ["TRIGGER", "WORKFLOW", "PlacedProblems", "field_errors", "place_problems", "slot_id"]

TRIGGER = "trigger"
WORKFLOW = ""  # the top bar: name, run-as role, the document as a whole


def _starts(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))


@dataclass
class PlacedProblems:
    """Problems grouped by card path (``TRIGGER``, a task path, or ``WORKFLOW``), each with the
    rest of its path relative to the card."""

    by_card: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    total: int = 0

    def on(self, card: str) -> list[tuple[str, str]]:
        return self.by_card.get(card, [])

    def messages(self, card: str) -> list[str]:
        return [message for _rest, message in self.on(card)]

    @property
    def cards(self) -> set[str]:
        return set(self.by_card)


def place_problems(doc: object, problems: Iterable[Problem]) -> PlacedProblems:
    """Group ``problems`` by the card each belongs to."""
    task_paths = sorted((path for path, _name, _task in iter_tasks(doc)), key=len, reverse=True)
    placed = PlacedProblems()
    for problem in problems:
        placed.total += 1
        path = problem.path
        if _starts(path, "trigger") or _starts(path, "input"):
            card, rest = TRIGGER, path
        else:
            card = next((task for task in task_paths if _starts(path, task)), WORKFLOW)
            rest = path[len(card) :].lstrip(".") if card else path
        placed.by_card.setdefault(card, []).append((rest, problem.message))
    return placed


def field_errors(problems: list[tuple[str, str]], keys: Iterable[str]) -> dict[str, list[str]]:
    """Messages per panel field: each goes to the longest key its path starts with, else to ``""``
    (shown at the top of the panel)."""
    ordered = sorted(keys, key=len, reverse=True)
    errors: dict[str, list[str]] = {}
    for rest, message in problems:
        key = next((k for k in ordered if k and _starts(rest, k)), "")
        # A message about the card as a whole (its action, its params, its tasks) needs no path.
        text = message if key or rest in _WHOLE_CARD else f"{rest}: {message}"
        errors.setdefault(key, []).append(text)
    return errors


_WHOLE_CARD = {"", "call", "with", "do", "switch", "for"}


def slot_id(key: str) -> str:
    """The DOM id of the element holding a panel field's messages (``with.user`` → ``err-with-user``)."""
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "-", key).strip("-")
    return f"err-{cleaned}" if cleaned else "err-general"
