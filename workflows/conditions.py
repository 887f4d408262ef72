"""Conditions: the ``when`` of triggers and switch cases, and the ``if`` guard of any task.

A condition is either an expression (``"event.user.department == 'Sales'"``, with or without
``{{ }}``) or a structured condition the builder can edit without writing Jinja:

* ``{"all": [c, ...]}`` — every one is true; ``{"any": [c, ...]}`` — at least one is;
  ``{"not": c}`` — c is false;
* ``{"left": "{{ event.user.department }}", "op": "eq", "right": "Sales"}`` — a comparison.
  ``left`` and ``right`` are rendered with the expression engine first (so either may be a
  literal or a template); ``"ignore_case": true`` compares strings case-insensitively.
* ``true`` / ``false`` — constant conditions (a disabled guard while editing).

The operators (eq, ne, gt, gte, lt, lte, in, not_in, contains, starts_with, ends_with,
matches, exists, empty, changed, changed_from, changed_to, member_of, older_than_days,
newer_than_days) live in the registry in ``workflows.operators``: one class each, with the
label and description the builder shows. This module walks the condition tree, evaluates
it, and validates it with exact paths.

``member_of`` decides from the user's ``groups`` when the user value carries them (events
do), with no query; otherwise it asks a membership resolver, by default one query on
``directory.models.UserGroup``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from workflows.expressions import (
    UndefinedValueError,
    check_syntax,
    evaluate,
    is_single_expression,
    iter_templates,
    render_value,
)
from workflows.operators import (
    MISSING,
    ConditionError,
    MembershipResolver,
    OperatorContext,
    database_membership,
    get_operator,
)

if TYPE_CHECKING:
    from workflows.dsl.problems import Problem

__all__ = [
    "COMBINATORS",
    "COMPARISON_KEYS",
    "ConditionError",
    "ExpressionCheck",
    "MembershipResolver",
    "database_membership",
    "evaluate_condition",
    "is_true",
    "validate_condition",
]

# The keys of a comparison, and of the three ways to combine conditions.
COMPARISON_KEYS = ("left", "op", "right", "ignore_case")
COMBINATORS = ("all", "any", "not")

# The validator's check of one expression source at a path (syntax, names, step references).
ExpressionCheck = Callable[[str, str], "list[Problem]"]


# --- evaluating -------------------------------------------------------------------------------


def is_true(condition: Any, scope: dict[str, Any], *, membership: MembershipResolver | None = None) -> bool:
    """Whether ``condition`` (an expression string, a structured condition or a bool) holds.

    ``membership(user_ref, group_ref) -> bool`` answers ``member_of`` when the user value does
    not carry its groups; by default it queries the directory. Raises ``ExpressionError``
    (``ConditionError`` for a comparison that cannot be made) rather than guessing.
    """
    ctx = OperatorContext(scope=scope, membership=membership or database_membership)
    return _holds(condition, ctx)


# The same, under the name that reads better where only structured conditions are meant.
evaluate_condition = is_true


def _holds(condition: Any, ctx: OperatorContext) -> bool:
    if isinstance(condition, bool):
        return condition
    if isinstance(condition, str):
        return bool(evaluate(condition, ctx.scope))
    if isinstance(condition, dict):
        for key, combine in _COMBINE.items():
            if key in condition:
                return combine(condition[key], ctx)
        if "op" in condition:
            return _compare(condition, ctx)
    raise ConditionError(f"not a condition: {condition!r}")


def _all(conditions: Any, ctx: OperatorContext) -> bool:
    return all(_holds(item, ctx) for item in _as_list(conditions, "all"))


def _any(conditions: Any, ctx: OperatorContext) -> bool:
    return any(_holds(item, ctx) for item in _as_list(conditions, "any"))


def _not(condition: Any, ctx: OperatorContext) -> bool:
    return not _holds(condition, ctx)


_COMBINE: dict[str, Callable[[Any, OperatorContext], bool]] = {"all": _all, "any": _any, "not": _not}


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConditionError(f"'{key}' needs a list of conditions")
    return value


def _compare(condition: dict[str, Any], ctx: OperatorContext) -> bool:
    op = condition["op"]
    operator = get_operator(op) if isinstance(op, str) else None
    if operator is None:
        raise ConditionError(f"unknown operator {op!r}")
    if operator.tolerates_missing_left:
        try:
            left = render_value(condition.get("left"), ctx.scope, json_safe=False)
        except UndefinedValueError:
            left = MISSING
    else:
        left = render_value(condition.get("left"), ctx.scope, json_safe=False)
    right = render_value(condition.get("right"), ctx.scope, json_safe=False)
    op_ctx = ctx.with_case(bool(condition.get("ignore_case", False)))
    return operator.test(left, right, op_ctx)


# --- validating -------------------------------------------------------------------------------


def validate_condition(
    condition: Any,
    path: str,
    *,
    check_expression: ExpressionCheck | None = None,
    has_event: bool = True,
) -> list[Problem]:
    """Every problem of ``condition`` at ``path``, with the path of each part.

    Checks the shape, operators, missing or superfluous ``right``, literal rights the operator
    cannot use (a bad regex, a non-list for ``in``…) and every expression in it.
    ``check_expression(path, source)`` lets the DSL validator add its own checks (names,
    step references); by default only syntax is checked. ``has_event=False`` (a workflow not
    started by an event) refuses ``changed``/``changed_from``/``changed_to``.
    """
    checker = _ConditionChecker(check_expression or _syntax_only, has_event)
    checker.check(condition, path)
    return checker.problems


def _syntax_only(path: str, source: str) -> list[Problem]:
    from workflows.dsl.problems import Problem

    message = check_syntax(source)
    return [Problem(path, f"expression does not parse: {message}")] if message else []


class _ConditionChecker:
    """One validation walk over a condition tree, collecting problems."""

    def __init__(self, check_expression: ExpressionCheck, has_event: bool) -> None:
        # Imported here: ``workflows.dsl`` imports this module through its validator.
        from workflows.dsl.problems import Problem

        self.problem = Problem
        self.check_expression = check_expression
        self.has_event = has_event
        self.problems: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.problems.append(self.problem(path, message))

    def check(self, condition: Any, path: str) -> None:
        if isinstance(condition, bool):
            return
        if isinstance(condition, str):
            self.check_expression_condition(condition, path)
        elif not isinstance(condition, dict):
            self.add(path, "must be an expression or a condition object")
        else:
            combinators = [key for key in COMBINATORS if key in condition]
            is_comparison = any(key in condition for key in COMPARISON_KEYS)
            if len(combinators) + is_comparison != 1:
                self.add(path, "a condition object has exactly one of 'all', 'any', 'not', or 'left'/'op'/'right'")
            elif combinators:
                self.check_combinator(condition, combinators[0], path)
            else:
                self.check_comparison(condition, path)

    def check_expression_condition(self, source: str, path: str) -> None:
        if not source.strip():
            self.add(path, "the condition is empty")
        elif not is_single_expression(source):
            self.add(path, "must be one expression, not text around {{ }} (it would always be true)")
        else:
            self.problems.extend(self.check_expression(path, source))

    def check_combinator(self, condition: dict[str, Any], key: str, path: str) -> None:
        for extra in condition:
            if extra != key:
                self.add(f"{path}.{extra}", f"unexpected key {extra!r} next to {key!r}")
        value = condition[key]
        if key == "not":
            self.check(value, f"{path}.not")
        elif not isinstance(value, list) or not value:
            self.add(f"{path}.{key}", "must be a non-empty list of conditions")
        else:
            for index, item in enumerate(value):
                self.check(item, f"{path}.{key}[{index}]")

    def check_comparison(self, condition: dict[str, Any], path: str) -> None:
        for extra in condition:
            if extra not in COMPARISON_KEYS:
                self.add(f"{path}.{extra}", f"unexpected key {extra!r} in a comparison")
        for required in ("left", "op"):
            if required not in condition:
                self.add(f"{path}.{required}", f"{required!r} is required")
        if "ignore_case" in condition and not isinstance(condition["ignore_case"], bool):
            self.add(f"{path}.ignore_case", "must be true or false")
        for key in ("left", "right"):
            if key in condition:
                for sub_path, source in iter_templates(condition[key], f"{path}.{key}"):
                    self.problems.extend(self.check_expression(sub_path, source))
        if "op" in condition:
            self.check_operator(condition, path)

    def check_operator(self, condition: dict[str, Any], path: str) -> None:
        op = condition["op"]
        operator = get_operator(op) if isinstance(op, str) else None
        if operator is None:
            self.add(f"{path}.op", f"unknown operator {op!r}")
            return
        if operator.needs_event and not self.has_event:
            self.add(f"{path}.op", f"{op!r} only works in workflows started by an event")
        has_right = "right" in condition
        if operator.takes_right and not has_right:
            self.add(f"{path}.right", f"{op!r} needs a 'right' value")
        elif not operator.takes_right and has_right:
            self.add(f"{path}.right", f"{op!r} takes no 'right' value")
        elif has_right and not any(True for _ in iter_templates(condition["right"], "")):
            message = operator.check_right(condition["right"])
            if message:
                self.add(f"{path}.right", message)
