"""What a card's fields may refer to: the variable picker's list, computed from the document.

At a card the scope is what the validator allows there: the trigger's event fields (from the
event catalogue), the manual input's fields (from ``input.schema``), the outputs of tasks that
run before the card (from each action's ``output_schema``; a switch's chosen case, a loop's
items), and the variables of the loops around it, with their items' fields when the list they
loop over is known.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from directory.event_types import COMMON_CONTEXT, EVENT_TYPES
from workflows.actions.registry import get_action
from workflows.triggers import context_fields

__all__ = ["Variable", "VariableGroup", "variables_at"]

# Lists inside event objects whose items are other directory objects (see executions.context).
_EVENT_ITEM_FIELDS: dict[str, list[str]] = {"groups": ["id", "name"], "devices": context_fields("device")}
_PLAIN_PATH = re.compile(r"^\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}$")


@dataclass(frozen=True)
class Variable:
    """One thing a field can insert: ``{{ expression }}``."""

    expression: str
    label: str
    kind: str = ""

    @property
    def reference(self) -> str:
        return "{{ " + self.expression + " }}"


@dataclass
class VariableGroup:
    """Variables from one source (the event, the input, one earlier step, a loop)."""

    title: str
    variables: list[Variable] = field(default_factory=list)


def _kind(schema: Any) -> str:
    kind = schema.get("type", "") if isinstance(schema, dict) else ""
    return " or ".join(kind) if isinstance(kind, list) else kind


def _schema_variables(prefix: str, schema: Any, depth: int = 0) -> list[Variable]:
    """``prefix.<property>`` for each property of an object schema (and one level below)."""
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        return []
    found = []
    for name, sub in properties.items():
        path = f"{prefix}.{name}"
        description = sub.get("description", "") if isinstance(sub, dict) else ""
        found.append(Variable(path, description or name.replace("_", " "), _kind(sub)))
        if depth == 0 and isinstance(sub, dict) and isinstance(sub.get("properties"), dict):
            found.extend(_schema_variables(path, sub, depth + 1))
    return found


def _event_group(trigger: dict[str, Any]) -> VariableGroup | None:
    event_type = EVENT_TYPES.get(trigger.get("event") or "")
    if event_type is None:
        return None
    group = VariableGroup(f"Event: {event_type.key}")
    for name in COMMON_CONTEXT:
        group.variables.append(Variable(f"event.{name}", f"event {name.replace('_', ' ')}"))
    for obj in event_type.context:
        for name in context_fields(obj):
            group.variables.append(Variable(f"event.{obj}.{name}", f"{obj.replace('_', ' ')} {name.replace('_', ' ')}"))
    return group


def _input_group(doc: dict[str, Any]) -> VariableGroup | None:
    schema = (doc.get("input") or {}).get("schema") if isinstance(doc.get("input"), dict) else None
    variables = _schema_variables("input", schema)
    return VariableGroup("Input", variables) if variables else None


def _step_variables(name: str, task: dict[str, Any]) -> list[Variable]:
    base = f"steps.{name}"
    variables = [Variable(f"{base}.status", "status: succeeded, failed or skipped", "string")]
    if "call" in task:
        action = get_action(task["call"]) if isinstance(task.get("call"), str) else None
        if action is not None:
            variables.append(Variable(f"{base}.output", f"the whole output of {action.label.lower()}", "object"))
            variables.extend(_schema_variables(f"{base}.output", action.output_schema))
    elif "switch" in task:
        variables.append(Variable(f"{base}.output.case", "the name of the branch taken", "string"))
    elif "for" in task:
        variables.append(Variable(f"{base}.output.count", "how many items the loop ran for", "integer"))
        variables.append(Variable(f"{base}.output.items", "the items the loop ran for", "array"))
    return variables


def _item_fields(source: Any, doc: dict[str, Any], steps: dict[str, dict[str, Any]]) -> list[str]:
    """Fields of the items of the list a loop runs over, when the source names a known list."""
    match = _PLAIN_PATH.match(source) if isinstance(source, str) else None
    if not match:
        return []
    parts = match.group(1).split(".")
    schema: Any = None
    if parts[0] == "event" and len(parts) == 3 and parts[2] in _EVENT_ITEM_FIELDS:
        return _EVENT_ITEM_FIELDS[parts[2]]
    if parts[0] == "input":
        schema = (doc.get("input") or {}).get("schema") if isinstance(doc.get("input"), dict) else None
        parts = parts[1:]
    elif parts[0] == "steps" and len(parts) >= 3 and parts[2] == "output" and parts[1] in steps:
        task = steps[parts[1]]
        action = get_action(task.get("call")) if isinstance(task.get("call"), str) else None
        schema = action.output_schema if action is not None else None
        parts = parts[3:]
    for part in parts:
        properties = schema.get("properties") if isinstance(schema, dict) else None
        schema = properties.get(part) if isinstance(properties, dict) else None
    items = schema.get("items") if isinstance(schema, dict) else None
    properties = items.get("properties") if isinstance(items, dict) else None
    return list(properties) if isinstance(properties, dict) else []


class _ScopeWalk:
    """Walk the tasks in execution order, noting what is in scope at each task."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.scopes: dict[str, tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, list[str]]]]] = {}
        self.steps: dict[str, dict[str, Any]] = {}

    def block(self, tasks: Any, path: str, before: list[tuple[str, dict[str, Any]]], loops: list[Any]) -> list[Any]:
        """Returns every task defined in the block (nested included), in order."""
        defined: list[tuple[str, dict[str, Any]]] = []
        if not isinstance(tasks, list):
            return defined
        for index, entry in enumerate(tasks):
            if not isinstance(entry, dict) or len(entry) != 1:
                continue
            ((name, task),) = entry.items()
            if not isinstance(task, dict):
                continue
            task_path = f"{path}[{index}].{name}"
            visible = before + defined
            self.scopes[task_path] = (visible, loops)
            self.steps[name] = task
            inner: list[Any] = []
            inside = [*visible, (name, task)]
            if isinstance(task.get("switch"), list):
                for number, case in enumerate(task["switch"]):
                    if isinstance(case, dict) and len(case) == 1:
                        ((case_name, body),) = case.items()
                        if isinstance(body, dict):
                            case_path = f"{task_path}.switch[{number}].{case_name}.do"
                            inner += self.block(body.get("do"), case_path, inside, loops)
            elif "for" in task:
                loop = task["for"] if isinstance(task["for"], dict) else {}
                variable = loop.get("each") if isinstance(loop.get("each"), str) else "item"
                fields = _item_fields(loop.get("in"), self.doc, self.steps)
                inner += self.block(task.get("do"), f"{task_path}.do", inside, [*loops, (variable, fields)])
            defined += [(name, task), *inner]
        return defined


def variables_at(doc: dict[str, Any], task_path: str | None) -> list[VariableGroup]:
    """The variable picker's groups at the task ``task_path`` (``None``: the trigger card)."""
    trigger = doc.get("trigger") if isinstance(doc.get("trigger"), dict) else {}
    groups: list[VariableGroup] = []
    if trigger.get("type") == "event":
        event = _event_group(trigger)
        if event:
            groups.append(event)
    if task_path is None:
        return groups
    if trigger.get("type") != "event":
        input_group = _input_group(doc)
        if input_group:
            groups.append(input_group)
    walk = _ScopeWalk(doc)
    walk.block(doc.get("do"), "do", [], [])
    before, loops = walk.scopes.get(task_path, ([], []))
    for variable, fields in reversed(loops):
        loop_group = VariableGroup(f"Loop item: {variable}", [Variable(variable, "the current item")])
        loop_group.variables += [Variable(f"{variable}.{name}", name.replace("_", " ")) for name in fields]
        loop_group.variables += [
            Variable("loop.index", "position of the item, from 0", "integer"),
            Variable("loop.first", "true for the first item", "boolean"),
            Variable("loop.last", "true for the last item", "boolean"),
        ]
        groups.append(loop_group)
    for name, task in before:
        groups.append(VariableGroup(f"Step: {name}", _step_variables(name, task)))
    groups.append(
        VariableGroup(
            "Workflow",
            [
                Variable("workflow.name", "this workflow's name", "string"),
                Variable("workflow.id", "this workflow's id", "integer"),
                Variable("execution.id", "this run's id", "integer"),
                Variable("now()", "the current date and time", "datetime"),
            ],
        )
    )
    return groups
