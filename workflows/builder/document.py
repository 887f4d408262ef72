"""Edits of a DSL document addressed by path, as the canvas makes them.

A *lane* is a task list, named by its DSL path (``do``, ``do[1].check.switch[0].branch_1.do``,
``do[2].each_user.do``); a *task* is named by its entry's path and name (``do[1].check``), the
same paths the validator reports problems at. Functions here change the document in place and
raise ``EditRefused`` with a message an admin can act on; they never touch the database.

Task names are unique across a document (the DSL requires it, since ``steps.<name>`` reads a
task's result), so new and duplicated tasks get fresh names, and renaming a task rewrites the
``steps.<name>`` references to it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

from workflows.dsl import iter_tasks
from workflows.dsl.validator import NAME_PATTERN

__all__ = [
    "EditRefused",
    "add_branch",
    "all_names",
    "delete_task",
    "drawable_problems",
    "duplicate_task",
    "find_task",
    "insert_task",
    "lane_at",
    "move_task",
    "new_task",
    "remove_branch",
    "rename_task",
    "unique_name",
]

_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


class EditRefused(Exception):
    """The edit cannot be made; ``message`` says why in the admin's words."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def _parts(path: str) -> list[str | int]:
    parts: list[str | int] = []
    position = 0
    for match in _PART.finditer(path):
        if match.start() != position:
            raise EditRefused(f"Not a path in this workflow: {path!r}")
        index, key = match.groups()
        parts.append(int(index) if index is not None else key)
        position = match.end()
    if position != len(path) or not parts:
        raise EditRefused(f"Not a path in this workflow: {path!r}")
    return parts


def _resolve(doc: Any, path: str) -> Any:
    node = doc
    for part in _parts(path):
        if isinstance(part, int):
            if not isinstance(node, list) or part >= len(node):
                raise EditRefused("That part of the workflow no longer exists; the canvas was out of date.")
            node = node[part]
        else:
            if not isinstance(node, dict) or part not in node:
                raise EditRefused("That part of the workflow no longer exists; the canvas was out of date.")
            node = node[part]
    return node


def lane_at(doc: dict[str, Any], lane_path: str) -> list[Any]:
    """The task list at ``lane_path``; a missing ``do`` of a case or loop is created empty."""
    if lane_path == "do":
        lane = doc.setdefault("do", [])
    else:
        head, _, last = lane_path.rpartition(".")
        if last != "do" or not head:
            raise EditRefused(f"Not a lane in this workflow: {lane_path!r}")
        owner = _resolve(doc, head)
        if not isinstance(owner, dict):
            raise EditRefused(f"Not a lane in this workflow: {lane_path!r}")
        lane = owner.setdefault("do", [])
    if not isinstance(lane, list):
        raise EditRefused(f"Not a lane in this workflow: {lane_path!r}")
    return lane


def _split_task_path(task_path: str) -> tuple[str, int, str]:
    """``do[1].check`` → (``do``, 1, ``check``)."""
    match = re.fullmatch(r"(.*)\[(\d+)\]\.([A-Za-z_][A-Za-z0-9_]*)", task_path)
    if not match:
        raise EditRefused(f"Not a task in this workflow: {task_path!r}")
    return match.group(1), int(match.group(2)), match.group(3)


def find_task(doc: dict[str, Any], task_path: str) -> tuple[list[Any], int, str, dict[str, Any], str]:
    """``(lane, index, name, task, path)`` of the task at ``task_path``.

    A page may send a path that an edit in another tab has shifted: when the entry there is
    not the named task, the task is found by its (unique) name instead.
    """
    lane_path, index, name = _split_task_path(task_path)
    try:
        lane = lane_at(doc, lane_path)
        entry = lane[index] if index < len(lane) else None
    except EditRefused:
        entry = None
    if isinstance(entry, dict) and list(entry) == [name] and isinstance(entry[name], dict):
        return lane, index, name, entry[name], task_path
    for path, other, task in iter_tasks(doc):
        if other == name:
            lane_path, index, _ = _split_task_path(path)
            return lane_at(doc, lane_path), index, name, task, path
    raise EditRefused(f"There is no task named {name!r} any more; the canvas was out of date.")


def all_names(doc: Any) -> set[str]:
    """Every task name in the document."""
    return {name for _path, name, _task in iter_tasks(doc)}


def unique_name(doc: Any, base: str, taken: set[str] | None = None) -> str:
    """``base`` made a valid task name not yet used in ``doc`` (``base``, ``base_2``, …)."""
    base = re.sub(r"[^A-Za-z0-9_]+", "_", base).strip("_").lower() or "task"
    if not re.match(r"[A-Za-z_]", base):
        base = f"task_{base}"
    names = all_names(doc) | (taken or set())
    if base not in names:
        return base
    number = 2
    while f"{base}_{number}" in names:
        number += 1
    return f"{base}_{number}"


def _loop_variables_around(doc: dict[str, Any], lane_path: str) -> set[str]:
    """Loop variables of the loops enclosing ``lane_path`` (a new loop must not hide them)."""
    names = set()
    for path, _name, task in iter_tasks(doc):
        if "for" in task and lane_path.startswith(f"{path}.do") and isinstance(task["for"], dict):
            names.add(task["for"].get("each"))
    return {n for n in names if isinstance(n, str)}


def new_task(doc: dict[str, Any], kind: str, lane_path: str, action_key: str = "") -> tuple[str, dict[str, Any]]:
    """A fresh task of ``kind`` (``call`` with ``action_key``, ``if_else``, ``loop``) and its name.

    If / else is a switch with one case and a default; its condition starts empty, so saving
    points at it until it is filled in. A loop's variable does not hide an enclosing one's.
    """
    if kind == "call":
        base = action_key.rpartition(".")[2] or "action"
        return unique_name(doc, base), {"call": action_key, "with": {}}
    if kind == "if_else":
        return unique_name(doc, "check"), {"switch": [{"branch_1": {"when": "", "do": []}}, {"default": {"do": []}}]}
    if kind == "loop":
        outer = _loop_variables_around(doc, lane_path)
        variable = (
            "item" if "item" not in outer else next(f"item_{n}" for n in range(2, 100) if f"item_{n}" not in outer)
        )
        return unique_name(doc, "for_each"), {"for": {"each": variable, "in": ""}, "do": []}
    raise EditRefused(f"Unknown kind of card: {kind!r}")


def insert_task(doc: dict[str, Any], lane_path: str, index: int, name: str, task: dict[str, Any]) -> str:
    """Insert ``{name: task}`` at ``index`` of the lane; returns the new task's path."""
    lane = lane_at(doc, lane_path)
    index = max(0, min(index, len(lane)))
    lane.insert(index, {name: task})
    return f"{lane_path}[{index}].{name}"


def delete_task(doc: dict[str, Any], task_path: str) -> str:
    """Remove the task (and everything inside it); returns its name."""
    lane, index, name, _task, _path = find_task(doc, task_path)
    del lane[index]
    return name


def move_task(doc: dict[str, Any], task_path: str, to_lane: str, to_index: int) -> str:
    """Move a task to ``to_index`` of ``to_lane`` (the index it has once moved); returns its new path.

    The target lane is looked up before the task leaves its place, so indexes the removal shifts
    do not matter. A task cannot move into itself.
    """
    _lane, _index, name, _task, path = find_task(doc, task_path)
    if to_lane == path or to_lane.startswith(f"{path}.") or to_lane.startswith(f"{path}["):
        raise EditRefused("A card cannot move inside itself.")
    target = lane_at(doc, to_lane)
    lane, index, _name, _task, _path = find_task(doc, path)
    entry = lane.pop(index)
    to_index = max(0, min(to_index, len(target)))
    target.insert(to_index, entry)
    for new_path, other, _body in iter_tasks(doc):
        if other == name:
            return new_path
    return path  # pragma: no cover - the task was just inserted


def _rewrite_refs(value: Any, renames: dict[str, str]) -> Any:
    """``value`` with ``steps.<old>`` references changed to ``steps.<new>``."""
    if not renames:
        return value
    pattern = re.compile(r"\bsteps\.(" + "|".join(re.escape(old) for old in renames) + r")(?![A-Za-z0-9_])")
    return _map_strings(value, lambda text: pattern.sub(lambda m: f"steps.{renames[m.group(1)]}", text))


def _map_strings(value: Any, change: Any) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, list):
        return [_map_strings(item, change) for item in value]
    if isinstance(value, dict):
        return {key: _map_strings(item, change) for key, item in value.items()}
    return value


def _rename_nested(task: dict[str, Any], doc: dict[str, Any], taken: set[str]) -> dict[str, str]:
    """Give every task nested in ``task`` a fresh name; returns ``{old: new}``."""
    renames: dict[str, str] = {}
    for _path, old, _body in iter_tasks({"do": [{"_": task}]}):
        if old == "_":
            continue
        new = unique_name(doc, old, taken)
        taken.add(new)
        renames[old] = new

    def rename(tasks: Any) -> None:
        if not isinstance(tasks, list):
            return
        for position, entry in enumerate(tasks):
            if isinstance(entry, dict) and len(entry) == 1:
                ((old, body),) = entry.items()
                tasks[position] = {renames.get(old, old): body}
                _rename_inside(body)

    def _rename_inside(body: Any) -> None:
        if not isinstance(body, dict):
            return
        if isinstance(body.get("switch"), list):
            for case in body["switch"]:
                if isinstance(case, dict) and len(case) == 1:
                    (inner,) = case.values()
                    if isinstance(inner, dict):
                        rename(inner.get("do"))
        rename(body.get("do"))

    _rename_inside(task)
    return renames


def duplicate_task(doc: dict[str, Any], task_path: str) -> str:
    """Insert a copy right after the task, itself and its nested tasks renamed; returns its path.

    References inside the copy to tasks copied with it follow the new names.
    """
    lane, index, name, task, path = find_task(doc, task_path)
    copied = copy.deepcopy(task)
    taken: set[str] = set()
    new_name = unique_name(doc, name, taken)
    taken.add(new_name)
    renames = _rename_nested(copied, doc, taken)
    renames[name] = new_name
    copied = _rewrite_refs(copied, renames)
    lane.insert(index + 1, {new_name: copied})
    lane_path = path.rpartition("[")[0]
    return f"{lane_path}[{index + 1}].{new_name}"


def rename_task(doc: dict[str, Any], task_path: str, new_name: str) -> str:
    """Rename a task and every ``steps.<name>`` reference to it; returns its new path."""
    lane, index, name, task, path = find_task(doc, task_path)
    new_name = new_name.strip()
    if new_name == name:
        return path
    if not NAME_PATTERN.match(new_name):
        raise EditRefused("Use letters, digits and _ only, not starting with a digit.", field="name")
    if new_name in all_names(doc):
        raise EditRefused(f"Another task is already named {new_name!r}.", field="name")
    lane[index] = {new_name: task}
    doc.update(_rewrite_refs(doc, {name: new_name}))
    return f"{path.rpartition('[')[0]}[{index}].{new_name}"


def _switch(doc: dict[str, Any], task_path: str) -> list[Any]:
    _lane, _index, _name, task, _path = find_task(doc, task_path)
    cases = task.get("switch")
    if not isinstance(cases, list):
        raise EditRefused("This card has no branches.")
    return cases


def add_branch(doc: dict[str, Any], task_path: str) -> int:
    """Add a case before the default case of a switch; returns its index."""
    cases = _switch(doc, task_path)
    names = {next(iter(case)) for case in cases if isinstance(case, dict) and len(case) == 1}
    number = len(cases) + 1
    while f"branch_{number}" in names:
        number += 1
    position = len(cases)
    if cases and isinstance(cases[-1], dict) and "default" in cases[-1]:
        position -= 1
    cases.insert(position, {f"branch_{number}": {"when": "", "do": []}})
    return position


def remove_branch(doc: dict[str, Any], task_path: str, index: int) -> None:
    """Remove a case (and its tasks). The last case with a condition stays: that is the If."""
    cases = _switch(doc, task_path)
    if not 0 <= index < len(cases):
        raise EditRefused("That branch no longer exists; the canvas was out of date.")
    conditional = [c for c in cases if isinstance(c, dict) and "default" not in c]
    if "default" not in cases[index] and len(conditional) <= 1:
        raise EditRefused("An If / else keeps at least one condition; delete the card to remove it.")
    del cases[index]


def _drawable_lane(tasks: Any, path: str) -> Iterator[tuple[str, str]]:
    if not isinstance(tasks, list):
        yield path, "must be a list of tasks"
        return
    for index, entry in enumerate(tasks):
        where = f"{path}[{index}]"
        if not isinstance(entry, dict) or len(entry) != 1:
            yield where, "a task is an object with one key, its name"
            continue
        ((name, task),) = entry.items()
        if not isinstance(task, dict):
            yield f"{where}.{name}", "a task is an object with 'call', 'switch' or 'for'"
            continue
        if "switch" in task:
            cases = task["switch"]
            if not isinstance(cases, list):
                yield f"{where}.{name}.switch", "must be a list of cases"
                continue
            for number, case in enumerate(cases):
                if not isinstance(case, dict) or len(case) != 1 or not isinstance(next(iter(case.values())), dict):
                    yield f"{where}.{name}.switch[{number}]", "a case is an object with one key, its name"
                    continue
                ((case_name, body),) = case.items()
                if "do" in body:
                    yield from _drawable_lane(body["do"], f"{where}.{name}.switch[{number}].{case_name}.do")
        elif "do" in task:
            yield from _drawable_lane(task["do"], f"{where}.{name}.do")


def drawable_problems(doc: Any) -> list[tuple[str, str]]:
    """Why the canvas could not draw ``doc`` as cards (``(path, message)``); empty when it can.

    The validator reports these too, among everything else; the JSON view refuses only these,
    since every other problem can be shown on a card and fixed there.
    """
    if not isinstance(doc, dict):
        return [("", "a workflow definition must be a JSON object")]
    problems: list[tuple[str, str]] = []
    trigger = doc.get("trigger")
    if not isinstance(trigger, dict) or trigger.get("type") not in {"manual", "event", "schedule"}:
        problems.append(("trigger", "needs a trigger object with type manual, event or schedule"))
    problems.extend(_drawable_lane(doc.get("do", []), "do"))
    return problems
