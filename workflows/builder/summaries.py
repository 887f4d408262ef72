"""One line per card and per trigger, in an admin's words.

An action's line comes from its label with the nouns that name params replaced by their values
("Add user to group" with ``user`` and ``group`` set reads "Add {{ event.user.email }} to
Engineering"), so a new action needs no summary code. Conditions read as
"department equals Engineering"; triggers as "When a user is created in Engineering",
"Every weekday at 09:00 Europe/Berlin" or "Manual".
"""

from __future__ import annotations

import json
import re
from typing import Any

from workflows.actions.registry import get_action
from workflows.builder.cron import describe_schedule
from workflows.expressions import is_template
from workflows.operators import get_operator

__all__ = ["condition_summary", "event_phrase", "task_summary", "trigger_summary", "value_text"]

MAX_VALUE = 40
MAX_LINE = 110

# How an event type's verb reads after its resource ("a user" + "is created").
_VERBS = {
    "created": "is created",
    "updated": "is updated",
    "deleted": "is deleted",
    "activated": "is activated",
    "suspended": "is suspended",
    "locked": "is locked",
    "unlocked": "is unlocked",
    "password_expired": "has their password expire",
    "member_added": "gains a member",
    "member_removed": "loses a member",
    "bound": "is bound",
    "unbound": "is unbound",
    "finished": "finishes",
}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _unbrace(text: str) -> str:
    match = re.fullmatch(r"\s*\{\{\s*(.*?)\s*\}\}\s*", text, re.S)
    return match.group(1) if match else text


def value_text(value: Any, limit: int = MAX_VALUE) -> str:
    """A param value as short text: templates as written, lists joined, objects as JSON."""
    if isinstance(value, str):
        return _cut(value, limit)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return _cut(", ".join(str(v) for v in value), limit)
    return _cut(json.dumps(value, ensure_ascii=False), limit)


def _label_with_values(label: str, params: dict[str, Any]) -> tuple[str, set[str]]:
    """Replace the words of ``label`` that name a param (``user``, ``device group``) by its value."""
    used: set[str] = set()
    text = label
    for name in sorted(params, key=len, reverse=True):
        value = params[name]
        if value in (None, "", [], {}):
            continue
        words = name.replace("_", " ")
        pattern = re.compile(rf"\b{re.escape(words)}\b", re.IGNORECASE)
        if pattern.search(text):
            replacement = value_text(value)
            text = pattern.sub(lambda _m, r=replacement: r, text, count=1)
            used.add(name)
    return text, used


def task_summary(task: dict[str, Any]) -> str:
    """The card's one line: what the task does, with its guard if it has one."""
    if "call" in task:
        line = _call_summary(task)
    elif "switch" in task:
        line = _switch_summary(task)
    elif "for" in task:
        line = _loop_summary(task)
    else:
        line = "Not a task the builder knows"
    if task.get("if") not in (None, ""):
        line += f" — only if {condition_summary(task['if'])}"
    return _cut(line, MAX_LINE)


def _call_summary(task: dict[str, Any]) -> str:
    key = task.get("call")
    action = get_action(key) if isinstance(key, str) else None
    if action is None:
        return f"Unknown action {key!r}" if key else "Choose an action"
    params = task.get("with") if isinstance(task.get("with"), dict) else {}
    if not params:
        return f"{action.label} — not set up yet"
    line, used = _label_with_values(action.label, params)
    rest = [name for name, value in params.items() if name not in used and value not in (None, "", [], {})]
    if rest:
        shown = ", ".join(f"{name.replace('_', ' ')}: {value_text(params[name], 24)}" for name in rest[:2])
        line += f" — {shown}" + (f" +{len(rest) - 2} more" if len(rest) > 2 else "")
    return line


def _switch_summary(task: dict[str, Any]) -> str:
    cases = [c for c in task.get("switch") or [] if isinstance(c, dict) and len(c) == 1]
    conditional = [next(iter(c.values())) for c in cases if "default" not in c]
    if not conditional or not isinstance(conditional[0], dict):
        return "If / else — no condition yet"
    line = f"If {condition_summary(conditional[0].get('when'))}"
    if len(conditional) > 1:
        line += f" (+{len(conditional) - 1} more branch{'es' if len(conditional) > 2 else ''})"
    return line


def _loop_summary(task: dict[str, Any]) -> str:
    loop = task.get("for") if isinstance(task.get("for"), dict) else {}
    source = loop.get("in")
    if source in (None, "", []):
        return f"For each {loop.get('each') or 'item'} in — choose a list"
    shown = _unbrace(source) if isinstance(source, str) else value_text(source)
    return f"For each {loop.get('each') or 'item'} in {_cut(shown, 60)}"


def _side(value: Any) -> str:
    if isinstance(value, str):
        return _cut(_unbrace(value) if is_template(value) else value, MAX_VALUE)
    return value_text(value)


def condition_summary(condition: Any, *, nested: bool = False) -> str:
    """A condition as a short phrase ("department equals Sales and …"); groups inside groups in
    parentheses."""
    if condition in (None, ""):
        return "no condition yet"
    if isinstance(condition, bool):
        return "always" if condition else "never"
    if isinstance(condition, str):
        return _cut(_unbrace(condition), 80)
    if not isinstance(condition, dict):
        return "an unreadable condition"
    for key, joiner in (("all", " and "), ("any", " or ")):
        if key in condition and isinstance(condition[key], list):
            parts = [condition_summary(item, nested=True) for item in condition[key]]
            text = joiner.join(parts) if parts else "no condition yet"
            return _cut(f"({text})" if nested and len(parts) > 1 else text, 80)
    if "not" in condition:
        return f"not ({condition_summary(condition['not'])})"
    operator = get_operator(condition.get("op")) if isinstance(condition.get("op"), str) else None
    left = _side(condition.get("left", ""))
    left = left.removeprefix("event.").removeprefix("input.") if left.count(".") <= 2 else left
    if operator is None:
        return f"{left} ? {_side(condition.get('right', ''))}"
    if not operator.takes_right:
        return f"{left} {operator.label}"
    return f"{left} {operator.label} {_side(condition.get('right', ''))}"


def event_phrase(event_type: str) -> str:
    """``user.created`` → "a user is created"; ``user_group.member_added`` → "a user group gains a member"."""
    resource, _, verb = event_type.partition(".")
    noun = resource.replace("_", " ")
    article = "an" if noun[:1] in "aeio" else "a"  # "a user", "an event"
    if verb in _VERBS:
        return f"{article} {noun} {_VERBS[verb]}"
    return f"the event {event_type}"


def _department_filter(when: Any) -> str | None:
    """The department of a filter that is exactly "department equals X" (the common case)."""
    if isinstance(when, dict) and "all" in when and isinstance(when["all"], list) and len(when["all"]) == 1:
        when = when["all"][0]
    if not isinstance(when, dict) or when.get("op") != "eq" or not isinstance(when.get("right"), str):
        return None
    left = when.get("left")
    if isinstance(left, str) and re.fullmatch(r"\{\{\s*event\.\w+\.department\s*\}\}", left):
        return when["right"]
    return None


def trigger_summary(trigger: Any) -> str:
    """What starts the workflow, in one line."""
    if not isinstance(trigger, dict):
        return "No trigger"
    kind = trigger.get("type")
    if kind == "manual":
        return "Manual"
    if kind == "schedule":
        return describe_schedule(trigger)
    if kind == "event":
        event = trigger.get("event")
        if not event:
            return "When an event happens — choose one"
        line = f"When {event_phrase(event)}"
        when = trigger.get("when")
        if when in (None, "", {}):
            return line
        department = _department_filter(when)
        if department:
            return f"{line} in {department}"
        return _cut(f"{line}, if {condition_summary(when)}", MAX_LINE)
    return "Unknown trigger"
