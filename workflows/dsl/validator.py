"""The workflow document validator: every problem, each with its DSL path and a plain message.

The builder, the API and import all save through it, and an invalid workflow is not saved,
so it reports everything at once rather than the first thing it trips on. Two passes:

1. **Shape**, against the published JSON Schema (``schema.json``). jsonschema's errors are
   translated into DSL paths (``do[2].each_device.do[0].lock``) and plain messages; the
   schema can word a message itself with ``x-keyflow-messages``. Conditions are shape-checked
   by ``workflows.conditions.validate_condition`` instead, which can say which part is wrong.
2. **Meaning**, by walking the tasks in execution order: unknown actions, params against each
   action's own params schema (a param holding ``{{`` is an expression, exempt from type
   checks), duplicate task names, ``steps.<name>`` read before the task runs, expressions that
   do not parse or name something not in scope, unknown event types, cron, time zones, a
   ``once`` in the past, loop variables that hide reserved names, and the input schema.

The walk is tolerant: whatever the shape pass rejected is skipped, so a broken part of the
document does not hide the problems of the rest.

Both passes recurse and grow with the document, so before either a document past the limits of
``workflows.dsl.limits`` (size, nesting, tasks) is refused with that problem alone; each
expression's length and depth are checked before it is parsed, and statements (``{% %}``) are
refused with their path.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator
from importlib import resources
from typing import Any

from croniter import CroniterBadDateError, croniter
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from directory.event_types import EVENT_TYPES
from workflows.actions.base import Action
from workflows.actions.registry import all_actions, get_action
from workflows.conditions import validate_condition
from workflows.dsl.limits import document_limit_problems, document_limits
from workflows.dsl.problems import Problem
from workflows.durations import DurationError, parse_duration, parse_time
from workflows.expressions import (
    GLOBAL_NAMES,
    RESERVED_NAMES,
    SCOPE_NAMES,
    check_syntax,
    expression_limit_problem,
    is_single_expression,
    is_template,
    iter_templates,
    referenced_steps,
    undeclared_names,
)
from workflows.operators import all_operators

__all__ = ["DSL_VERSION", "NAME_PATTERN", "Problem", "iter_tasks", "load_schema", "validate_definition"]

DSL_VERSION = "1.0"
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
TASK_KINDS = ("call", "switch", "for", "wait")  # the schema's precedence when a task has several


# --- the schema -------------------------------------------------------------------------------


@functools.cache
def _schema() -> dict[str, Any]:
    text = resources.files("workflows.dsl").joinpath("schema.json").read_text(encoding="utf-8")
    schema = json.loads(text)
    # The operator list comes from the registry, so adding an operator needs no schema edit.
    schema["$defs"]["comparison"]["properties"]["op"]["enum"] = [op.key for op in all_operators()]
    return schema


def _published_schema() -> dict[str, Any]:
    """The schema with the limits in force (settings may change them, so not cached)."""
    from workflows.bounds import expression_depth_limit, expression_length_limit

    schema = json.loads(json.dumps(_schema()))
    limits = {name.removeprefix("KEYFLOW_").lower(): value for name, value in document_limits().items()}
    limits["max_expression_length"] = expression_length_limit()
    limits["max_expression_depth"] = expression_depth_limit()
    schema["x-keyflow-limits"] = limits
    return schema


def load_schema() -> dict[str, Any]:
    """The DSL's JSON Schema as published by the API, with ``x-keyflow-limits`` (a fresh copy;
    callers may change it)."""
    return _published_schema()


@functools.cache
def _document_validator() -> Draft202012Validator:
    return Draft202012Validator(_schema())


@functools.cache
def _metaschema_validator() -> Draft202012Validator:
    """What ``Draft202012Validator.check_schema`` uses, kept to list every error, not the first."""
    cls = Draft202012Validator
    return cls(cls.META_SCHEMA, format_checker=cls.FORMAT_CHECKER)


# --- walking tasks ----------------------------------------------------------------------------


def _entries(tasks: Any, path: str) -> Iterator[tuple[str, str, Any]]:
    """``(path, name, body)`` of each well-formed one-key entry of a task or case list."""
    if not isinstance(tasks, list):
        return
    for index, entry in enumerate(tasks):
        if isinstance(entry, dict) and len(entry) == 1:
            ((name, body),) = entry.items()
            yield f"{path}[{index}].{name}", name, body


def iter_tasks(doc: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """``(path, name, task)`` for every task in the document, nested ones included, in document
    order (``do[1].is_contractor.switch[0].contractor.do[0].notify_it``). Skips malformed parts,
    so it is safe on a document that has not been validated."""
    if isinstance(doc, dict):
        yield from _iter_block(doc.get("do"), "do")


def _iter_block(tasks: Any, path: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for task_path, name, task in _entries(tasks, path):
        if not isinstance(task, dict):
            continue
        yield task_path, name, task
        if "switch" in task:
            for case_path, _case, case in _entries(task["switch"], f"{task_path}.switch"):
                if isinstance(case, dict):
                    yield from _iter_block(case.get("do"), f"{case_path}.do")
        elif "for" in task:
            yield from _iter_block(task.get("do"), f"{task_path}.do")


# --- jsonschema errors in plain words ---------------------------------------------------------


def _join(path: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{path}[{part}]"
    return f"{path}.{part}" if path else str(part)


def _error_path(prefix: str, error: ValidationError) -> str:
    """``prefix`` plus the error's path relative to where it was raised (top-level errors and
    oneOf branches alike)."""
    path = prefix
    for part in error.relative_path:
        path = _join(path, part)
    return path


_TYPE_WORDS = {
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "an object",
    "array": "a list",
    "null": "null",
}


def _type_words(types: Any) -> str:
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_WORDS.get(t, t) for t in types)


def _size_message(error: ValidationError, unit: str) -> str:
    limit = error.validator_value
    if error.validator.startswith("min") and limit == 1:
        return "must not be empty"
    bound = "at least" if error.validator.startswith("min") else "at most"
    return f"must have {bound} {limit} {unit}"


_GENERIC: dict[str, Callable[[ValidationError], str]] = {
    "type": lambda e: f"must be {_type_words(e.validator_value)}",
    "enum": lambda e: "must be one of " + ", ".join(repr(v) for v in e.validator_value),
    "const": lambda e: f"must be {e.validator_value!r}",
    "minimum": lambda e: f"must be at least {e.validator_value}",
    "maximum": lambda e: f"must be at most {e.validator_value}",
    "exclusiveMinimum": lambda e: f"must be more than {e.validator_value}",
    "exclusiveMaximum": lambda e: f"must be less than {e.validator_value}",
    "minLength": lambda e: _size_message(e, "characters"),
    "maxLength": lambda e: _size_message(e, "characters"),
    "minItems": lambda e: _size_message(e, "items"),
    "maxItems": lambda e: _size_message(e, "items"),
    "maxProperties": lambda e: _size_message(e, "keys"),
    "pattern": lambda e: f"{e.instance!r} does not match {e.validator_value}",
    "format": lambda e: f"{e.instance!r} is not a valid {e.validator_value}",
    "uniqueItems": lambda e: "must not repeat items",
}


class _Translator:
    """Turns jsonschema errors into problems. ``params_of`` words them for an action's params."""

    def __init__(self, prefix: str = "", params_of: str | None = None) -> None:
        self.prefix = prefix
        self.params_of = params_of

    def problems(self, error: ValidationError) -> Iterator[Problem]:
        path = _error_path(self.prefix, error)
        messages = error.schema.get("x-keyflow-messages") if isinstance(error.schema, dict) else None
        if messages and error.validator in messages:
            yield Problem(path, messages[error.validator].format(instance=repr(error.instance)))
        elif error.validator in _KEYWORD_HANDLERS:
            yield from _KEYWORD_HANDLERS[error.validator](self, error, path)
        else:
            words = _GENERIC.get(error.validator)
            yield Problem(path, words(error) if words else error.message)

    def missing(self, error: ValidationError, path: str) -> Iterator[Problem]:
        for name in error.validator_value:
            if isinstance(error.instance, dict) and name not in error.instance:
                message = f"missing required param {name!r}" if self.params_of else f"{name!r} is required"
                yield Problem(_join(path, name), message)

    def unexpected(self, error: ValidationError, path: str) -> Iterator[Problem]:
        allowed = set(error.schema.get("properties", {}))
        patterns = [re.compile(p) for p in error.schema.get("patternProperties", {})]
        for key in error.instance:
            if key in allowed or any(p.search(key) for p in patterns):
                continue
            if self.params_of:
                message = f"unknown param {key!r} for {self.params_of}"
            elif key in TASK_KINDS:
                message = "a task has only one of 'call', 'switch', 'for' or 'wait'"
            else:
                message = f"{key!r} is not allowed here"
            yield Problem(_join(path, key), message)

    def alternatives(self, error: ValidationError, path: str) -> Iterator[Problem]:
        """A oneOf/anyOf: report the branch whose type fits the value, else the types allowed."""
        branches: dict[int, list[ValidationError]] = {}
        for sub in error.context or ():
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        if not branches:
            yield Problem(path, "matches more than one allowed form")
            return
        fitting = [errors for errors in branches.values() if not any(e.validator == "type" for e in errors)]
        if len(fitting) == 1:
            for sub in fitting[0]:
                yield from _Translator(path, self.params_of).problems(sub)
            return
        types = [branch.get("type") for branch in error.validator_value if isinstance(branch, dict)]
        if types and all(isinstance(t, str) for t in types):
            yield Problem(path, f"must be {_type_words(types)}")
        else:
            yield Problem(path, "does not match any allowed form")

    def too_few_keys(self, error: ValidationError, path: str) -> Iterator[Problem]:
        if self.params_of:
            yield Problem(path, f"{self.params_of} needs at least {error.validator_value} params")
        else:
            yield Problem(path, _size_message(error, "keys"))


# Keywords whose errors need more than one line of wording (several problems, or context).
_KEYWORD_HANDLERS: dict[str, Callable[[_Translator, ValidationError, str], Iterator[Problem]]] = {
    "required": _Translator.missing,
    "additionalProperties": _Translator.unexpected,
    "oneOf": _Translator.alternatives,
    "anyOf": _Translator.alternatives,
    "minProperties": _Translator.too_few_keys,
}


def _is_condition_error(error: ValidationError) -> bool:
    return isinstance(error.schema, dict) and "x-keyflow-checked-by" in error.schema


def _shape_problems(doc: Any) -> list[Problem]:
    translator = _Translator()
    problems = []
    for error in _document_validator().iter_errors(doc):
        if not _is_condition_error(error):
            problems.extend(translator.problems(error))
    return problems


# --- params of actions ------------------------------------------------------------------------

_PARAMS_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _params_validator(action: Action) -> Draft202012Validator:
    """The action's params validator, built once per params schema."""
    schema = action.params_schema
    cached = _PARAMS_VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, Draft202012Validator(schema))
        _PARAMS_VALIDATORS[id(schema)] = cached
    return cached[1]


def _params_problems(action: Action, params: dict[str, Any], path: str) -> list[Problem]:
    """Params against the action's schema. A value that is a template is only known at run
    time, so errors about it (its type, format, enum…) are left to the action then."""
    translator = _Translator(path, params_of=action.key)
    problems = []
    for error in _params_validator(action).iter_errors(params):
        if is_template(error.instance):
            continue
        problems.extend(translator.problems(error))
    return problems


# --- the semantic walk ------------------------------------------------------------------------


def _suggestion(value: str, known: Any) -> str:
    close = difflib.get_close_matches(value, list(known), n=1, cutoff=0.8)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Scope:
    """What an expression at some point of the document may read."""

    __slots__ = ("available", "loop_vars")

    def __init__(self, available: frozenset[str], loop_vars: tuple[str, ...]) -> None:
        self.available = available  # tasks that have run (or been skipped) before this point
        self.loop_vars = loop_vars

    def after(self, names: set[str]) -> _Scope:
        return _Scope(self.available | names, self.loop_vars)

    def inside_loop(self, variable: str) -> _Scope:
        return _Scope(self.available, (*self.loop_vars, variable))

    def names(self) -> set[str]:
        loop_names = {*self.loop_vars, "loop"} if self.loop_vars else set()
        return {*SCOPE_NAMES, *GLOBAL_NAMES, *loop_names}


class _Walker:
    """One pass over the document in execution order, collecting problems."""

    def __init__(self, doc: dict[str, Any], now: dt.datetime) -> None:
        self.doc = doc
        self.now = now
        self.problems: list[Problem] = []
        self.all_tasks = {name for _path, name, _task in iter_tasks(doc)}
        self.first_use: dict[str, str] = {}
        trigger = doc.get("trigger")
        self.has_event = isinstance(trigger, dict) and trigger.get("type") == "event"

    def add(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    # expressions and conditions

    def check_source(self, path: str, source: str, scope: _Scope) -> list[Problem]:
        limit = expression_limit_problem(source)
        if limit:
            return [Problem(path, limit)]
        message = check_syntax(source)
        if message:
            return [Problem(path, f"expression does not parse: {message}")]
        names = undeclared_names(source)
        problems = [Problem(path, f"undefined name {name!r}") for name in sorted(names - scope.names())]
        if "event" in names and not self.has_event:
            problems.append(Problem(path, "'event' is only set in workflows started by an event"))
        for ref in sorted(referenced_steps(source)):
            if ref not in self.all_tasks:
                problems.append(Problem(path, f"steps.{ref}: there is no task named {ref!r}"))
            elif ref not in scope.available:
                problems.append(Problem(path, f"steps.{ref}: task {ref!r} does not run before this point"))
        return problems

    def check_templates(self, value: Any, path: str, scope: _Scope) -> None:
        for sub_path, source in iter_templates(value, path):
            self.problems.extend(self.check_source(sub_path, source, scope))

    def check_condition(self, condition: Any, path: str, scope: _Scope) -> None:
        self.problems.extend(
            validate_condition(
                condition,
                path,
                check_expression=lambda sub_path, source: self.check_source(sub_path, source, scope),
                has_event=self.has_event,
            )
        )

    # the document

    def walk(self) -> None:
        self.walk_trigger(self.doc.get("trigger"))
        self.walk_input(self.doc.get("input"))
        self.walk_block(self.doc.get("do"), "do", _Scope(frozenset(), ()))

    def walk_trigger(self, trigger: Any) -> None:
        if not isinstance(trigger, dict):
            return
        kind = trigger.get("type")
        event = trigger.get("event")
        if kind == "event" and isinstance(event, str) and event and event not in EVENT_TYPES:
            self.add("trigger.event", f"unknown event type {event!r}{_suggestion(event, EVENT_TYPES)}")
        if kind == "event" and "when" in trigger:
            self.check_condition(trigger["when"], "trigger.when", _Scope(frozenset(), ()))
        if kind == "schedule":
            self.walk_schedule(trigger)

    def walk_schedule(self, trigger: dict[str, Any]) -> None:
        zone = None
        timezone = trigger.get("timezone", "UTC")
        if isinstance(timezone, str) and timezone:
            try:
                zone = zoneinfo.ZoneInfo(timezone)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                self.add("trigger.timezone", f"unknown time zone {timezone!r}")
        cron = trigger.get("cron")
        if isinstance(cron, str) and cron:
            message = _cron_problem(cron, self.now)
            if message:
                self.add("trigger.cron", message)
        once = trigger.get("once")
        if isinstance(once, str) and once:
            message = _once_problem(once, zone, "timezone" in trigger, self.now)
            if message:
                self.add("trigger.once", message)

    def walk_input(self, spec: Any) -> None:
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            return
        translator = _Translator("input.schema")
        for error in _metaschema_validator().iter_errors(schema):
            for problem in translator.problems(error):
                self.add(problem.path, f"not a valid JSON Schema: {problem.message}")

    def walk_block(self, tasks: Any, path: str, scope: _Scope) -> set[str]:
        """Check each task of a block; returns the names of every task in it, nested included."""
        defined: set[str] = set()
        for task_path, name, task in _entries(tasks, path):
            inner = self.walk_task(name, task, task_path, scope)
            defined |= inner | {name}
            scope = scope.after(inner | {name})
        return defined

    def walk_task(self, name: str, task: Any, path: str, scope: _Scope) -> set[str]:
        if isinstance(name, str) and NAME_PATTERN.match(name):
            if name in self.first_use:
                self.add(path, f"task name {name!r} is already used at {self.first_use[name]}")
            else:
                self.first_use[name] = path
        if not isinstance(task, dict):
            return set()
        if "if" in task:
            self.check_condition(task["if"], f"{path}.if", scope)
        self.check_retry(task.get("retry"), f"{path}.retry")
        for kind in TASK_KINDS:
            if kind in task:
                return _TASK_WALKERS[kind](self, name, task, path, scope)
        return set()

    def check_retry(self, retry: Any, path: str) -> None:
        if not isinstance(retry, dict):
            return
        initial, cap = retry.get("initial_delay"), retry.get("max_delay")
        if isinstance(initial, int | float) and isinstance(cap, int | float) and initial > cap:
            self.add(f"{path}.initial_delay", f"must not be more than max_delay ({cap})")

    def walk_call(self, name: str, task: dict[str, Any], path: str, scope: _Scope) -> set[str]:
        key = task["call"]
        params = task.get("with", {})
        if isinstance(params, dict):
            self.check_templates(params, f"{path}.with", scope)
        if not isinstance(key, str) or not key:
            return set()
        action = get_action(key)
        if action is None:
            known = [a.key for a in all_actions()]
            self.add(f"{path}.call", f"unknown action {key!r}{_suggestion(key, known)}")
        elif isinstance(params, dict):
            self.problems.extend(_params_problems(action, params, f"{path}.with"))
        return set()

    def walk_switch(self, name: str, task: dict[str, Any], path: str, scope: _Scope) -> set[str]:
        cases = list(_entries(task["switch"], f"{path}.switch"))
        inside = scope.after({name})  # the switch records its choice before its case runs
        seen: set[str] = set()
        defined: set[str] = set()
        for position, (case_path, case_name, case) in enumerate(cases):
            if case_name in seen:
                self.add(case_path, f"case name {case_name!r} is already used in this switch")
            seen.add(case_name)
            if case_name == "default" and position != len(cases) - 1:
                self.add(case_path, "the default case must be the last one")
            if not isinstance(case, dict):
                continue
            if case_name != "default" and "when" in case:
                self.check_condition(case["when"], f"{case_path}.when", scope)
            defined |= self.walk_block(case.get("do"), f"{case_path}.do", inside)
        return defined

    def walk_for(self, name: str, task: dict[str, Any], path: str, scope: _Scope) -> set[str]:
        loop = task["for"]
        if not isinstance(loop, dict):
            return self.walk_block(task.get("do"), f"{path}.do", scope.after({name}))
        self.check_loop_source(loop.get("in"), f"{path}.for.in", scope)
        variable = loop.get("each")
        body_scope = scope.after({name})  # the loop records its items before the first iteration
        if isinstance(variable, str) and NAME_PATTERN.match(variable):
            if variable in RESERVED_NAMES:
                self.add(f"{path}.for.each", f"loop variable {variable!r} shadows a reserved name")
            elif variable in scope.loop_vars:
                self.add(f"{path}.for.each", f"loop variable {variable!r} hides the one of an enclosing loop")
            body_scope = body_scope.inside_loop(variable)
        return self.walk_block(task.get("do"), f"{path}.do", body_scope)

    def walk_wait(self, name: str, task: dict[str, Any], path: str, scope: _Scope) -> set[str]:
        wait = task["wait"]
        if not isinstance(wait, dict) or len(wait) != 1:
            return set()
        ((kind, value),) = wait.items()
        parse = {"for": parse_duration, "until": parse_time}.get(kind)
        if parse is None:
            return set()
        where = f"{path}.wait.{kind}"
        if isinstance(value, str) and is_template(value):
            if not is_single_expression(value):
                self.add(where, "must be one {{ expression }}, not text around it")
            else:
                self.problems.extend(self.check_source(where, value, scope))
            return set()
        try:
            parse(value)
        except DurationError as exc:
            self.add(where, str(exc))
        return set()

    def check_loop_source(self, source: Any, path: str, scope: _Scope) -> None:
        if isinstance(source, list):
            self.check_templates(source, path, scope)
        elif isinstance(source, str):
            if not is_template(source):
                self.add(path, "must be a list or one {{ expression }} that gives a list")
            elif not is_single_expression(source):
                self.add(path, "must be one {{ expression }}, not text around it (that would be a string)")
            else:
                self.problems.extend(self.check_source(path, source, scope))


_TASK_WALKERS: dict[str, Callable[[_Walker, str, dict[str, Any], str, _Scope], set[str]]] = {
    "call": _Walker.walk_call,
    "switch": _Walker.walk_switch,
    "for": _Walker.walk_for,
    "wait": _Walker.walk_wait,
}


def _cron_problem(cron: str, now: dt.datetime) -> str | None:
    """Why ``cron`` cannot drive a schedule: not five fields (a sixth would be seconds), not
    valid, or a date that never comes (``0 0 31 2 *``) — the scheduler could never arm it."""
    fields = cron.split()
    if not cron.startswith("@") and len(fields) != 5:
        return f"a cron expression has 5 fields (minute hour day month weekday), this one has {len(fields)}"
    if not croniter.is_valid(cron):
        return f"{cron!r} is not a valid cron expression"
    try:
        croniter(cron, now).get_next(dt.datetime)
    except CroniterBadDateError:
        return f"{cron!r} never fires"
    return None


def _once_problem(once: str, zone: zoneinfo.ZoneInfo | None, zone_given: bool, now: dt.datetime) -> str | None:
    """Why a ``once`` time cannot be armed: not ISO, no offset nor time zone, or not in the future.
    A time without offset is read in the trigger's ``timezone``, as the scheduler does."""
    try:
        moment = dt.datetime.fromisoformat(once)
    except ValueError:
        return f"{once!r} is not an ISO 8601 date and time"
    if moment.tzinfo is None:
        if not zone_given:
            return "needs a UTC offset (e.g. 2030-01-31T09:00:00+01:00) or a 'timezone'"
        if zone is None:
            return None  # the unknown time zone is the problem reported
        moment = moment.replace(tzinfo=zone)
    if moment <= now:
        return f"{once} is not in the future"
    return None


# --- entry point ------------------------------------------------------------------------------

_TOP_LEVEL_ORDER = {"": 0, "dsl": 1, "trigger": 2, "input": 3, "do": 4}
_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[]+)")


def _document_order(problem: Problem) -> tuple[Any, ...]:
    """Sort key: top-level sections in document order, then the path with numeric indexes."""
    parts = [(0, int(index), "") if index else (1, 0, name) for index, name in _PATH_PART.findall(problem.path)]
    head = parts[0][2] if parts else ""
    return (_TOP_LEVEL_ORDER.get(head, 5), parts, problem.message)


def validate_definition(doc: Any, *, now: dt.datetime | None = None) -> list[Problem]:
    """Every problem of the workflow document ``doc``, in document order; empty when valid.

    ``now`` is the moment a ``once`` schedule must lie after (default: the current time).
    """
    if not isinstance(doc, dict):
        return [Problem("", "a workflow definition must be a JSON object")]
    too_big = document_limit_problems(doc)
    if too_big:
        return too_big
    walker = _Walker(doc, now or dt.datetime.now(dt.UTC))
    walker.walk()
    unique = dict.fromkeys([*_shape_problems(doc), *walker.problems])
    return sorted(unique, key=_document_order)
