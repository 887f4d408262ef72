"""A card's panel: what it shows (read from the document) and the task it writes back (from the form).

``task_panel`` gathers, for the task at a path, its form fields (params from the action's
schema, the branches of an If / else, a loop's list), the Advanced settings (``if`` guard,
retry, timeout, on error), the variables in scope and the problems filed under each field.
``task_from_form`` turns the posted form back into the task, keeping whatever the form does not
show (so nothing the JSON view added is dropped).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from workflows.actions.registry import get_action
from workflows.builder.condition_form import ConditionForm, Row
from workflows.builder.param_forms import ParamField, apply_layout, extra_params, param_fields, params_from_form
from workflows.builder.problems import PlacedProblems, field_errors, slot_id
from workflows.builder.scope import VariableGroup, variables_at

__all__ = ["Branch", "TaskPanel", "task_from_form", "task_panel"]

GUARD = "if:"


@dataclass
class Branch:
    """One case of an If / else in its panel."""

    index: int
    name: str
    is_default: bool
    condition: ConditionForm | None
    task_count: int

    @property
    def error_key(self) -> str:
        return f"switch[{self.index}]"

    @property
    def label(self) -> str:
        if self.is_default:
            return "Otherwise"
        return "If" if self.index == 0 else "Else if"


@dataclass
class TaskPanel:
    """Everything the panel template needs for one task."""

    path: str
    name: str
    kind: str
    task: dict[str, Any]
    title: str
    action: Any = None
    fields: list[ParamField] = field(default_factory=list)
    extra_params: str = ""
    branches: list[Branch] = field(default_factory=list)
    guard: ConditionForm | None = None
    has_guard: bool = False
    variables: list[VariableGroup] = field(default_factory=list)
    errors: dict[str, list[str]] = field(default_factory=dict)
    problem_count: int = 0
    focus: str = ""

    @property
    def retry(self) -> dict[str, Any]:
        retry = self.task.get("retry")
        return retry if isinstance(retry, dict) else {}

    @property
    def loop(self) -> dict[str, Any]:
        loop = self.task.get("for")
        return loop if isinstance(loop, dict) else {}

    @property
    def loop_source(self) -> str:
        source = self.loop.get("in", "")
        return source if isinstance(source, str) else json.dumps(source)

    def field_keys(self) -> list[str]:
        """The problem paths (relative to the card) this panel shows beside a field."""
        keys = ["if", "description"]
        if self.kind == "call":
            keys += ["retry", "timeout", "on_error", *(f.error_key for f in self.fields)]
        elif self.kind == "for":
            keys += ["for.each", "for.in", "for.max_iterations"]
        elif self.kind == "switch":
            keys += [branch.error_key for branch in self.branches]
        return keys

    @property
    def error_slots(self) -> list[tuple[str, list[str]]]:
        """``(DOM id, messages)`` of every message holder, for refreshing them in place."""
        return [(slot_id(key), self.errors.get(key, [])) for key in ("", *self.field_keys())]


def _title(task: dict[str, Any]) -> tuple[str, str, Any]:
    if "call" in task:
        action = get_action(task["call"]) if isinstance(task.get("call"), str) else None
        return "call", action.label if action else f"Unknown action {task.get('call')!r}", action
    if "switch" in task:
        return "switch", "If / else", None
    if "for" in task:
        return "for", "Loop", None
    return "unknown", "Unreadable task", None


def task_panel(
    doc: dict[str, Any],
    path: str,
    name: str,
    task: dict[str, Any],
    placed: PlacedProblems | None = None,
    *,
    overrides: dict[str, ConditionForm] | None = None,
    layout: str = "",
    focus: str = "",
) -> TaskPanel:
    """The panel of the task at ``path``. ``overrides`` are condition editors read from a posted
    form (rows still empty survive a redraw); ``layout`` a list field's button (one more row, or
    written as one ``{{ }}``); ``focus`` names the element to focus."""
    overrides = overrides or {}
    kind, title, action = _title(task)
    panel = TaskPanel(path=path, name=name, kind=kind, task=task, title=title, action=action, focus=focus)
    if action is not None:
        params = task.get("with") if isinstance(task.get("with"), dict) else {}
        panel.fields = param_fields(action.params_schema, params)
        if layout:
            panel.focus = apply_layout(panel.fields, layout) or panel.focus
        extra = extra_params(action.params_schema, params)
        panel.extra_params = json.dumps(extra, indent=2, ensure_ascii=False) if extra else ""
    if kind == "switch" and isinstance(task.get("switch"), list):
        for index, case in enumerate(task["switch"]):
            if not isinstance(case, dict) or len(case) != 1:
                continue
            ((case_name, body),) = case.items()
            body = body if isinstance(body, dict) else {}
            prefix = f"case{index}:"
            condition = None
            if case_name != "default":
                condition = overrides.get(prefix) or ConditionForm.from_condition(prefix, body.get("when"))
            tasks = body.get("do")
            panel.branches.append(
                Branch(
                    index, case_name, case_name == "default", condition, len(tasks) if isinstance(tasks, list) else 0
                )
            )
    panel.has_guard = task.get("if") not in (None, "") or GUARD in overrides
    panel.guard = overrides.get(GUARD) or ConditionForm.from_condition(GUARD, task.get("if"))
    panel.variables = variables_at(doc, path)
    if panel.focus == "first-field":
        panel.focus = panel.fields[0].field_id if panel.fields else "panel-name"
    elif panel.focus == "first-condition":
        first = next((b.condition for b in panel.branches if b.condition is not None), None)
        if first is not None and first.items and isinstance(first.items[0], Row):
            first.items[0].focus = True
    if placed is not None:
        problems = placed.on(path)
        panel.problem_count = len(problems)
        panel.errors = field_errors(problems, panel.field_keys())
    return panel


def _number(text: str) -> int | float | str | None:
    text = text.strip()
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text  # the validator says "must be a number"


def _retry_from_form(data: QueryDict) -> dict[str, Any]:
    retry: dict[str, Any] = {}
    for name in ("max_attempts", "initial_delay", "max_delay"):
        value = _number(data.get(f"retry_{name}", ""))
        if value is not None:
            retry[name] = value
    if data.get("retry_backoff") in {"exponential", "fixed"}:
        retry["backoff"] = data["retry_backoff"]
    if data.get("retry_jitter") in {"true", "false"}:
        retry["jitter"] = data["retry_jitter"] == "true"
    return retry


def task_from_form(task: dict[str, Any], data: QueryDict) -> tuple[dict[str, Any], dict[str, str]]:
    """``(task, form_errors)``: the task as the posted panel describes it."""
    updated = dict(task)
    errors: dict[str, str] = {}
    kind, _title_text, action = _title(task)
    if action is not None:
        previous = task.get("with") if isinstance(task.get("with"), dict) else {}
        params, errors = params_from_form(action.params_schema, data, previous)
        updated["with"] = params
    if kind == "switch" and isinstance(task.get("switch"), list):
        cases = []
        for index, case in enumerate(task["switch"]):
            if isinstance(case, dict) and len(case) == 1 and "default" not in case:
                ((case_name, body),) = case.items()
                body = dict(body) if isinstance(body, dict) else {}
                condition = ConditionForm.from_post(f"case{index}:", data).to_condition()
                body["when"] = "" if condition is None else condition
                cases.append({case_name: body})
            else:
                cases.append(case)
        updated["switch"] = cases
    if kind == "for":
        loop = dict(task.get("for")) if isinstance(task.get("for"), dict) else {}
        loop["each"] = data.get("for_each", "").strip()
        source = data.get("for_in", "").strip()
        if source.startswith("["):
            try:
                loop["in"] = json.loads(source)
            except json.JSONDecodeError as exc:
                errors["for_in"] = f"Not valid JSON: {exc.msg}."
                loop["in"] = source
        else:
            loop["in"] = source
        maximum = _number(data.get("for_max_iterations", ""))
        if maximum is None:
            loop.pop("max_iterations", None)
        else:
            loop["max_iterations"] = maximum
        updated["for"] = loop
    description = data.get("description", "").strip()
    if description:
        updated["description"] = description
    else:
        updated.pop("description", None)
    guard = ConditionForm.from_post(GUARD, data).to_condition() if data.get("guard_enabled") == "on" else None
    if guard is None:
        updated.pop("if", None)
    else:
        updated["if"] = guard
    if "advanced" in data:
        retry = _retry_from_form(data)
        if retry:
            updated["retry"] = retry
        else:
            updated.pop("retry", None)
        timeout = _number(data.get("timeout", ""))
        if timeout is None:
            updated.pop("timeout", None)
        else:
            updated["timeout"] = timeout
        if data.get("on_error") in {"fail", "continue"}:
            updated["on_error"] = data["on_error"]
        else:
            updated.pop("on_error", None)
    return updated, errors
