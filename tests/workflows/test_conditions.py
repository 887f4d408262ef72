"""Conditions: every operator (true and false), the combinators, member_of with and without the
database, and validation with exact paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from workflows.conditions import ConditionError, evaluate_condition, is_true, validate_condition
from workflows.dsl import Problem
from workflows.expressions import ExpressionError, UndefinedValueError
from workflows.operators import Operator, all_operators, get_operator, register


def _ago(days: float) -> str:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()


SCOPE: dict[str, Any] = {
    "input": {"count": 3, "text": "42", "tags": ["vip", "emea"], "empty_list": [], "nothing": None},
    "event": {
        "type": "user.updated",
        "user": {
            "id": 7,
            "username": "ann",
            "email": "ann@example.com",
            "department": "Sales",
            "employee_type": "contractor",
            "hire_date": _ago(400)[:10],
            "last_login_at": _ago(2),
            "manager": None,
            "attributes": {"cost_center": "CC-1"},
            "groups": [{"id": 1, "name": "VPN"}, {"id": 2, "name": "Sales Team"}],
        },
        "changes": [
            {"field": "department", "from": "Engineering", "to": "Sales"},
            {"field": "employee_id", "from": "", "to": "1001"},
        ],
    },
}


def _no_db(user: Any, group: Any) -> bool:
    raise AssertionError("the membership resolver must not be asked")


def check(left: Any, op: str, right: Any = None, *, has_right: bool = True, **extra: Any) -> bool:
    condition = {"left": left, "op": op, **({"right": right} if has_right else {}), **extra}
    return is_true(condition, SCOPE, membership=_no_db)


# --- every operator, true and false ---------------------------------------------------------------

CASES = [
    # eq / ne, with literal and templated sides, and number/string coercion
    ("{{ event.user.department }}", "eq", "Sales", True),
    ("{{ event.user.department }}", "eq", "sales", False),
    ("{{ input.count }}", "eq", "3", True),
    ("{{ input.text }}", "eq", 42, True),
    ("{{ input.count }}", "eq", "{{ 1 + 2 }}", True),
    ("{{ input.tags }}", "eq", ["vip", "emea"], True),
    ("{{ input.nothing }}", "eq", None, True),
    ("{{ input.count }}", "eq", True, False),
    ("{{ event.user.department }}", "ne", "Engineering", True),
    ("{{ event.user.department }}", "ne", "Sales", False),
    # ordering: numbers, numeric strings, dates; None is never ordered
    ("{{ input.count }}", "gt", 2, True),
    ("{{ input.count }}", "gt", 3, False),
    ("{{ input.text }}", "gt", "9", True),
    ("{{ input.count }}", "gte", 3, True),
    ("{{ input.count }}", "gte", 4, False),
    ("{{ input.count }}", "lt", "10", True),
    ("{{ input.count }}", "lt", 3, False),
    ("{{ input.count }}", "lte", 3, True),
    ("{{ input.count }}", "lte", 2.5, False),
    ("{{ event.user.hire_date }}", "lt", "{{ now() }}", True),
    ("{{ to_datetime(event.user.last_login_at) }}", "gt", "2000-01-01", True),
    ("{{ input.nothing }}", "gt", 1, False),
    ("{{ input.nothing }}", "lt", 1, False),
    ("apple", "lt", "banana", True),
    # in / not_in
    ("{{ event.user.department }}", "in", ["Sales", "Marketing"], True),
    ("{{ event.user.department }}", "in", ["Engineering"], False),
    ("{{ input.count }}", "in", ["1", "3"], True),
    ("{{ event.user.department }}", "in", "{{ ['Sales'] }}", True),
    ("{{ event.user.department }}", "not_in", ["Engineering", "Legal"], True),
    ("{{ event.user.department }}", "not_in", ["Sales"], False),
    # contains: text, list, object keys; None is false
    ("{{ event.user.email }}", "contains", "@example", True),
    ("{{ event.user.email }}", "contains", "@corp", False),
    ("{{ input.tags }}", "contains", "vip", True),
    ("{{ input.tags }}", "contains", "apac", False),
    ("{{ event.user.attributes }}", "contains", "cost_center", True),
    ("{{ event.user.attributes }}", "contains", "team", False),
    ("{{ input.nothing }}", "contains", "x", False),
    # starts_with / ends_with
    ("{{ event.user.email }}", "starts_with", "ann@", True),
    ("{{ event.user.email }}", "starts_with", "bob@", False),
    ("{{ event.user.email }}", "ends_with", "@example.com", True),
    ("{{ event.user.email }}", "ends_with", "@corp.com", False),
    ("{{ input.count }}", "starts_with", "3", True),
    ("{{ input.nothing }}", "ends_with", "x", False),
    # matches (re.search)
    ("{{ event.user.email }}", "matches", r"^[a-z]+@example\.com$", True),
    ("{{ event.user.email }}", "matches", r"^\d+@", False),
    ("{{ event.user.attributes.cost_center }}", "matches", r"CC-\d", True),
    ("{{ input.nothing }}", "matches", ".*", False),
    # changed / changed_from / changed_to read event.changes
    ("department", "changed_from", "Engineering", True),
    ("department", "changed_from", "Sales", False),
    ("department", "changed_to", "Sales", True),
    ("department", "changed_to", "Legal", False),
    ("employee_id", "changed_to", 1001, True),
    ("{{ 'department' }}", "changed_to", "Sales", True),
    ("job_title", "changed_to", "Sales", False),
    # member_of, decided from the user's groups (no resolver call)
    ("{{ event.user }}", "member_of", "VPN", True),
    ("{{ event.user }}", "member_of", "vpn", True),
    ("{{ event.user }}", "member_of", "Sales Team", True),
    ("{{ event.user }}", "member_of", "Admins", False),
    ("{{ event.user }}", "member_of", 2, True),
    ("{{ event.user }}", "member_of", "1", True),
    ("{{ event.user }}", "member_of", 3, False),
    ("{{ event.user }}", "member_of", ["Admins", "VPN"], True),
    ("{{ event.user }}", "member_of", ["Admins", "Ops"], False),
    ("{{ input.nothing }}", "member_of", "VPN", False),
    # older_than_days / newer_than_days
    ("{{ event.user.hire_date }}", "older_than_days", 365, True),
    ("{{ event.user.hire_date }}", "older_than_days", 500, False),
    ("{{ event.user.last_login_at }}", "newer_than_days", 7, True),
    ("{{ event.user.last_login_at }}", "newer_than_days", "1", False),
    ("{{ event.user.last_login_at }}", "older_than_days", 1.5, True),
    ("{{ now() }}", "newer_than_days", 1, True),
    ("{{ input.nothing }}", "older_than_days", 1, False),
    ("{{ input.nothing }}", "newer_than_days", 1, False),
]


@pytest.mark.parametrize(("left", "op", "right", "expected"), CASES, ids=[f"{c[1]}-{c[0]}-{c[2]}" for c in CASES])
def test_operator(left: Any, op: str, right: Any, expected: bool) -> None:
    assert check(left, op, right) is expected


NO_RIGHT_CASES = [
    ("{{ event.user.department }}", "exists", True),
    ("{{ event.user.manager }}", "exists", False),
    ("{{ event.user.attributes.team }}", "exists", False),
    ("{{ event.user.boss.name }}", "exists", False),
    ("{{ input.empty_list }}", "exists", True),
    ("{{ input.nothing }}", "empty", True),
    ("{{ input.empty_list }}", "empty", True),
    ("{{ event.user.attributes.team }}", "empty", True),
    ("", "empty", True),
    ("{{ {} }}", "empty", True),
    ("{{ input.tags }}", "empty", False),
    ("{{ input.count }}", "empty", False),
    ("{{ 0 }}", "empty", False),
    ("department", "changed", True),
    ("employee_id", "changed", True),
    ("job_title", "changed", False),
]


@pytest.mark.parametrize(("left", "op", "expected"), NO_RIGHT_CASES)
def test_operators_without_right(left: str, op: str, expected: bool) -> None:
    assert check(left, op, has_right=False) is expected


def test_every_operator_is_tested_true_and_false() -> None:
    outcomes: dict[str, set[bool]] = {}
    for _left, op, *_right, expected in [*CASES, *NO_RIGHT_CASES]:
        outcomes.setdefault(op, set()).add(expected)
    assert outcomes == {op.key: {True, False} for op in all_operators()}


def test_ignore_case() -> None:
    assert check("{{ event.user.department }}", "eq", "SALES", ignore_case=True) is True
    assert check("{{ event.user.department }}", "ne", "SALES", ignore_case=True) is False
    assert check("{{ event.user.department }}", "in", ["sales"], ignore_case=True) is True
    assert check("{{ event.user.email }}", "contains", "EXAMPLE", ignore_case=True) is True
    assert check("{{ event.user.email }}", "starts_with", "ANN", ignore_case=True) is True
    assert check("{{ event.user.email }}", "ends_with", ".COM", ignore_case=True) is True
    assert check("{{ event.user.email }}", "matches", "^ANN@", ignore_case=True) is True
    assert check("{{ input.tags }}", "contains", "VIP", ignore_case=True) is True
    assert check("department", "changed_from", "engineering", ignore_case=True) is True
    assert check("{{ event.user.email }}", "matches", "^ANN@") is False


# --- operator errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "op", "right", "message"),
    [
        ("{{ input.tags }}", "gt", 1, "'gt' cannot compare ['vip', 'emea'] with 1"),
        ("{{ {'a': 1} }}", "lt", "x", "'lt' cannot compare {'a': 1} with 'x'"),
        (
            "{{ event.user.department }}",
            "in",
            "Sales, Marketing",
            "'in' needs a list on the right, got 'Sales, Marketing'",
        ),
        ("{{ event.user.department }}", "not_in", None, "'not_in' needs a list on the right, got None"),
        ("{{ input.count }}", "contains", 3, "'contains' needs text, a list or an object on the left, got 3"),
        ("{{ event.user.email }}", "contains", ["x"], "'contains' needs text on the right, got ['x']"),
        ("{{ input.tags }}", "starts_with", "v", "'starts_with' needs text on the left, got ['vip', 'emea']"),
        (
            "{{ event.user.email }}",
            "matches",
            "(",
            "not a valid regular expression: missing ), unterminated subpattern at position 0",
        ),
        ("{{ event.user.email }}", "matches", None, "'matches' needs text on the right, got None"),
        ("{{ event.user }}", "member_of", None, "'member_of' needs a group name or id on the right, got None"),
        ("{{ event.user }}", "member_of", [], "'member_of' needs a group name or id on the right, got []"),
        (
            "{{ {'name': 'x'} }}",
            "member_of",
            "VPN",
            "'member_of' needs a user with an id, username or email on the left",
        ),
        (
            "{{ event.user.hire_date }}",
            "older_than_days",
            "many",
            "'older_than_days' needs a number of days on the right, got 'many'",
        ),
        ("{{ event.user.department }}", "newer_than_days", 3, "'newer_than_days': 'Sales' is not a date or time"),
        ("{{ 10**20 }}", "older_than_days", 3, "'older_than_days': 100000000000000000000 is not a date or time"),
        ("{{ now() }}", "older_than_days", "1e20", "'older_than_days': '1e20' days is out of range"),
    ],
)
def test_a_comparison_that_cannot_be_made_is_an_error(left: Any, op: str, right: Any, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        check(left, op, right)
    assert info.value.message == message


def test_changed_without_an_event_is_an_error_and_an_event_without_changes_is_false() -> None:
    with pytest.raises(ConditionError) as info:
        is_true({"left": "department", "op": "changed"}, {"input": {}})
    assert info.value.message == "'changed' needs the event that started the workflow, and there is none"
    assert is_true({"left": "department", "op": "changed"}, {"event": {}}) is False
    assert is_true({"left": "department", "op": "changed_to", "right": "x"}, {"event": {"changes": None}}) is False


def test_undefined_left_is_an_error_except_for_exists_and_empty() -> None:
    with pytest.raises(UndefinedValueError) as info:
        check("{{ event.user.departmnt }}", "eq", "Sales")
    assert info.value.message == "'event.user' has no attribute 'departmnt'"
    with pytest.raises(UndefinedValueError):
        check("{{ event.user.department }}", "eq", "{{ input.nope }}")


def test_unknown_operator_at_run_time_is_an_error() -> None:
    with pytest.raises(ConditionError) as info:
        is_true({"left": 1, "op": "equals", "right": 1}, {})
    assert info.value.message == "unknown operator 'equals'"
    assert isinstance(info.value, ExpressionError)


# --- member_of through the resolver ---------------------------------------------------------------


def test_member_of_asks_the_resolver_when_the_user_has_no_groups() -> None:
    asked: list[tuple[Any, Any]] = []

    def membership(user: Any, group: Any) -> bool:
        asked.append((user, group))
        return group == "VPN"

    scope = {"user": {"id": 5, "email": "bob@example.com"}}
    assert is_true({"left": "{{ user }}", "op": "member_of", "right": "VPN"}, scope, membership=membership) is True
    assert is_true({"left": "bob@example.com", "op": "member_of", "right": "Ops"}, {}, membership=membership) is False
    assert is_true({"left": 5, "op": "member_of", "right": ["Ops", "VPN"]}, {}, membership=membership) is True
    assert asked == [(5, "VPN"), ("bob@example.com", "Ops"), (5, "Ops"), (5, "VPN")]


def test_member_of_uses_the_directory_by_default(db: None) -> None:
    from directory.models import User, UserGroup

    ann = User.objects.create(username="ann", email="ann@example.com")
    bob = User.objects.create(username="bob", email="bob@example.com")
    vpn = UserGroup.objects.create(name="VPN")
    vpn.members.add(ann)
    assert is_true({"left": ann.pk, "op": "member_of", "right": "vpn"}, {}) is True
    assert is_true({"left": "ANN", "op": "member_of", "right": vpn.pk}, {}) is True
    assert is_true({"left": "ann@example.com", "op": "member_of", "right": str(vpn.pk)}, {}) is True
    assert is_true({"left": {"id": ann.pk}, "op": "member_of", "right": "VPN"}, {}) is True
    assert is_true({"left": bob.pk, "op": "member_of", "right": "VPN"}, {}) is False
    assert is_true({"left": ann.pk, "op": "member_of", "right": "No Such Group"}, {}) is False
    assert is_true({"left": "nobody", "op": "member_of", "right": "VPN"}, {}) is False


# --- combinators, expressions, constants ----------------------------------------------------------

SALES = {"left": "{{ event.user.department }}", "op": "eq", "right": "Sales"}
ENG = {"left": "{{ event.user.department }}", "op": "eq", "right": "Engineering"}


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"all": [SALES, "event.user.employee_type == 'contractor'"]}, True),
        ({"all": [SALES, ENG]}, False),
        ({"any": [ENG, SALES]}, True),
        ({"any": [ENG, {"not": SALES}]}, False),
        ({"not": ENG}, True),
        ({"not": {"not": SALES}}, True),
        ({"all": [{"any": [ENG, SALES]}, {"not": {"left": "{{ input.tags }}", "op": "contains", "right": "x"}}]}, True),
        ("{{ event.user.department == 'Sales' }}", True),
        ("event.user.department == 'Engineering'", False),
        ("input.tags", True),
        ("input.empty_list", False),
        (True, True),
        (False, False),
    ],
)
def test_combinators_expressions_and_constants(condition: Any, expected: bool) -> None:
    assert is_true(condition, SCOPE) is expected
    assert evaluate_condition(condition, SCOPE) is expected


def test_all_and_any_stop_at_the_first_decisive_condition() -> None:
    broken = "input.nope == 1"
    assert is_true({"any": [SALES, broken]}, SCOPE) is True
    assert is_true({"all": [ENG, broken]}, SCOPE) is False
    with pytest.raises(UndefinedValueError):
        is_true({"all": [SALES, broken]}, SCOPE)


@pytest.mark.parametrize(
    ("condition", "message"), [(42, "not a condition: 42"), ({"foo": 1}, "not a condition: {'foo': 1}")]
)
def test_something_that_is_not_a_condition_is_an_error(condition: Any, message: str) -> None:
    with pytest.raises(ConditionError) as info:
        is_true(condition, SCOPE)
    assert info.value.message == message


# --- the registry ---------------------------------------------------------------------------------

OPERATOR_KEYS = [
    "eq",
    "ne",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "starts_with",
    "ends_with",
    "matches",
    "exists",
    "empty",
    "changed",
    "changed_from",
    "changed_to",
    "member_of",
    "older_than_days",
    "newer_than_days",
]


def test_every_operator_is_registered_and_described() -> None:
    assert [op.key for op in all_operators()] == OPERATOR_KEYS
    for operator in all_operators():
        entry = operator.describe()
        assert entry["key"] == operator.key and entry["label"] and entry["description"]
    without_right = {op.key for op in all_operators() if not op.takes_right}
    assert without_right == {"exists", "empty", "changed"}
    assert get_operator("eq").describe() == {
        "key": "eq",
        "label": "equals",
        "description": "Left equals right. A number and a numeric string compare as numbers.",
        "takes_right": True,
    }
    assert get_operator("nope") is None


def test_an_operator_key_cannot_be_registered_twice() -> None:
    class Duplicate(Operator):
        key = "eq"
        label = description = "dup"

    with pytest.raises(ValueError, match="Operator eq is registered twice"):
        register(Duplicate)


# --- validation -----------------------------------------------------------------------------------

P = "do[1].is_contractor.switch[0].contractor.when"


@pytest.mark.parametrize(
    ("condition", "problems"),
    [
        ("{{ event.user.department == 'Sales' }}", []),
        ("event.user.department == 'Sales'", []),
        (True, []),
        ({"all": [SALES, {"not": {"left": "x", "op": "exists"}}]}, []),
        ({"left": "{{ event.user.email }}", "op": "matches", "right": "^a.*$", "ignore_case": True}, []),
        ({"left": "{{ x }}", "op": "in", "right": "{{ input.allowed }}"}, []),
        ({"left": "{{ x }}", "op": "matches", "right": "{{ input.pattern }}"}, []),
        ("", [(P, "the condition is empty")]),
        ("{{ a }} and {{ b }}", [(P, "must be one expression, not text around {{ }} (it would always be true)")]),
        ("{{ a }", [(P, "expression does not parse: unexpected '}'")]),
        ("a ==", [(P, "expression does not parse: unexpected 'end of template'")]),
        (42, [(P, "must be an expression or a condition object")]),
        (None, [(P, "must be an expression or a condition object")]),
        ({}, [(P, "a condition object has exactly one of 'all', 'any', 'not', or 'left'/'op'/'right'")]),
        (
            {"all": [SALES], "op": "eq"},
            [(P, "a condition object has exactly one of 'all', 'any', 'not', or 'left'/'op'/'right'")],
        ),
        ({"all": []}, [(f"{P}.all", "must be a non-empty list of conditions")]),
        ({"any": SALES}, [(f"{P}.any", "must be a non-empty list of conditions")]),
        ({"not": SALES, "note": "x"}, [(f"{P}.note", "unexpected key 'note' next to 'not'")]),
        (
            {"all": [SALES, {"left": "x", "op": "equals", "right": 1}]},
            [(f"{P}.all[1].op", "unknown operator 'equals'")],
        ),
        ({"any": [{"not": {"left": "x", "op": "eq"}}]}, [(f"{P}.any[0].not.right", "'eq' needs a 'right' value")]),
        ({"left": "x", "op": "exists", "right": 1}, [(f"{P}.right", "'exists' takes no 'right' value")]),
        ({"op": "eq", "right": 1}, [(f"{P}.left", "'left' is required")]),
        ({"left": "x", "right": 1}, [(f"{P}.op", "'op' is required")]),
        ({"left": "x", "op": 5, "right": 1}, [(f"{P}.op", "unknown operator 5")]),
        ({"left": "x", "op": "eq", "right": 1, "extra": 2}, [(f"{P}.extra", "unexpected key 'extra' in a comparison")]),
        ({"left": "x", "op": "eq", "right": 1, "ignore_case": "yes"}, [(f"{P}.ignore_case", "must be true or false")]),
        (
            {"left": "x", "op": "matches", "right": "(["},
            [(f"{P}.right", "not a valid regular expression: unterminated character set at position 1")],
        ),
        (
            {"left": "x", "op": "matches", "right": 5},
            [(f"{P}.right", "'matches' needs a regular expression (text) on the right")],
        ),
        ({"left": "x", "op": "in", "right": "Sales"}, [(f"{P}.right", "'in' needs a list on the right")]),
        ({"left": "x", "op": "not_in", "right": {"a": 1}}, [(f"{P}.right", "'not_in' needs a list on the right")]),
        (
            {"left": "x", "op": "member_of", "right": True},
            [(f"{P}.right", "'member_of' needs a group name or id (or a list of them) on the right")],
        ),
        (
            {"left": "x", "op": "older_than_days", "right": "soon"},
            [(f"{P}.right", "'older_than_days' needs a number of days on the right")],
        ),
        (
            {"left": "{{ a }", "op": "eq", "right": ["ok", "{{ b + }}"]},
            [
                (f"{P}.left", "expression does not parse: unexpected '}'"),
                (f"{P}.right[1]", "expression does not parse: unexpected 'end of print statement'"),
            ],
        ),
        (
            {"all": [{"left": "x", "op": "nope"}, "{{ }}", {"any": []}]},
            [
                (f"{P}.all[0].op", "unknown operator 'nope'"),
                (f"{P}.all[1]", "expression does not parse: Expected an expression, got 'end of print statement'"),
                (f"{P}.all[2].any", "must be a non-empty list of conditions"),
            ],
        ),
    ],
)
def test_validate_condition_reports_every_problem_with_its_path(
    condition: Any, problems: list[tuple[str, str]]
) -> None:
    assert validate_condition(condition, P) == [Problem(path, message) for path, message in problems]


def test_changed_operators_need_an_event_trigger() -> None:
    condition = {"any": [{"left": "department", "op": "changed"}, {"left": "x", "op": "changed_to", "right": 1}]}
    assert validate_condition(condition, "do[0].x.if") == []
    assert validate_condition(condition, "do[0].x.if", has_event=False) == [
        Problem("do[0].x.if.any[0].op", "'changed' only works in workflows started by an event"),
        Problem("do[0].x.if.any[1].op", "'changed_to' only works in workflows started by an event"),
    ]


def test_validate_condition_hands_every_expression_to_the_check() -> None:
    seen: list[tuple[str, str]] = []

    def check_expression(path: str, source: str) -> list[Problem]:
        seen.append((path, source))
        return [Problem(path, "checked")] if "bad" in source else []

    condition = {"all": ["{{ ok }}", {"left": "{{ bad }}", "op": "in", "right": ["a", "{{ fine }}"]}, {"not": "bad"}]}
    assert validate_condition(condition, "trigger.when", check_expression=check_expression) == [
        Problem("trigger.when.all[1].left", "checked"),
        Problem("trigger.when.all[2].not", "checked"),
    ]
    assert seen == [
        ("trigger.when.all[0]", "{{ ok }}"),
        ("trigger.when.all[1].left", "{{ bad }}"),
        ("trigger.when.all[1].right[1]", "{{ fine }}"),
        ("trigger.when.all[2].not", "bad"),
    ]
