"""The structured condition editor: conditions as rows and groups, and back."""

from __future__ import annotations

import pytest
from django.http import QueryDict

from workflows.builder.condition_form import EXPRESSION, RULES, ConditionForm, Group, Row
from workflows.conditions import validate_condition

P = "if:"


def roundtrip(condition):
    return ConditionForm.from_condition(P, condition).to_condition()


@pytest.mark.parametrize(
    "condition",
    [
        {"left": "{{ input.kind }}", "op": "eq", "right": "contractor"},
        {"not": {"left": "{{ event.user.manager }}", "op": "exists"}},
        {"all": [{"left": "{{ a }}", "op": "eq", "right": True}, {"left": "{{ b }}", "op": "in", "right": ["x", "y"]}]},
        {
            "any": [
                {"left": "{{ a }}", "op": "eq", "right": "1"},
                {"all": [{"left": "{{ b }}", "op": "gt", "right": "2"}, {"left": "{{ c }}", "op": "empty"}]},
            ]
        },
        {
            "not": {
                "any": [
                    {"left": "{{ a }}", "op": "ends_with", "right": "@x.com", "ignore_case": True},
                    {"left": "{{ b }}", "op": "matches", "right": "^E"},
                ]
            }
        },
        {
            "all": [
                {"left": "{{ a }}", "op": "eq", "right": "1"},
                {
                    "not": {
                        "all": [
                            {"left": "{{ b }}", "op": "eq", "right": "2"},
                            {"left": "{{ c }}", "op": "eq", "right": "3"},
                        ]
                    }
                },
            ]
        },
    ],
)
def test_structured_conditions_round_trip_as_rows(condition):
    form = ConditionForm.from_condition(P, condition)
    assert form.mode == RULES
    assert form.to_condition() == condition


@pytest.mark.parametrize(
    "condition",
    [
        "event.user.department == 'Sales'",
        True,
        {"all": ["input.x", {"left": "{{ a }}", "op": "eq", "right": 1}]},
        {"all": [{"any": [{"all": [{"left": "a", "op": "eq", "right": 1}]}]}]},
    ],
)
def test_what_rows_cannot_show_is_edited_as_raw_text(condition):
    form = ConditionForm.from_condition(P, condition)
    assert form.mode == EXPRESSION
    assert form.to_condition() == condition


def test_an_empty_condition_starts_with_one_empty_row_and_means_nothing():
    form = ConditionForm.from_condition(P, "")
    assert [type(item) for item in form.items] == [Row]
    assert form.to_condition() is None


def post(pairs):
    data = QueryDict(mutable=True)
    for key, value in pairs:
        data.appendlist(key, value)
    return data


def test_posted_rows_and_groups_with_empty_rows_kept_on_screen_but_not_in_the_document():
    data = post(
        [
            (f"{P}mode", "rules"),
            (f"{P}match", "any"),
            (f"{P}items", "r1"),
            (f"{P}r1-left", "{{ input.n }}"),
            (f"{P}r1-op", "gt"),
            (f"{P}r1-right", "3"),
            (f"{P}items", "g2"),
            (f"{P}g2-match", "all"),
            (f"{P}g2-negate", "on"),
            (f"{P}g2-rows", "r3"),
            (f"{P}r3-left", "{{ input.team }}"),
            (f"{P}r3-op", "in"),
            (f"{P}r3-right", "core, infra"),
            (f"{P}g2-rows", "r4"),
            (f"{P}r4-left", ""),
            (f"{P}r4-op", "eq"),
            (f"{P}items", "r5"),
            (f"{P}r5-left", "{{ input.email }}"),
            (f"{P}r5-op", "exists"),
            (f"{P}r5-right", "ignored"),
            (f"{P}r5-not", "on"),
        ]
    )
    form = ConditionForm.from_post(P, data)
    assert isinstance(form.items[1], Group) and len(form.items[1].rows) == 2
    condition = form.to_condition()
    assert condition == {
        "any": [
            {"left": "{{ input.n }}", "op": "gt", "right": "3"},
            {"not": {"all": [{"left": "{{ input.team }}", "op": "in", "right": ["core", "infra"]}]}},
            {"not": {"left": "{{ input.email }}", "op": "exists"}},
        ]
    }
    assert validate_condition(condition, "if") == []


def test_editing_buttons():
    form = ConditionForm.from_condition(P, {"left": "{{ a }}", "op": "eq", "right": "1"})
    form.apply("add-row")
    assert form.items[-1].focus and form.items[-1].id == "r2"
    form.apply("add-group")
    group = form.items[-1]
    form.apply(f"add-row:{group.id}")
    assert len(group.rows) == 2
    form.apply("remove:r1")
    assert [item.id for item in form.items] == ["r2", group.id]
    form.apply("mode:expression")
    assert form.mode == EXPRESSION and form.raw == ""  # nothing filled in yet
    form.raw = "input.x > 1"
    form.apply("mode:rules")  # an expression cannot be rows: rows start afresh
    assert form.mode == RULES and form.to_condition() is None


def test_switching_rows_to_text_and_back_keeps_the_condition():
    condition = {"all": [{"left": "{{ a }}", "op": "eq", "right": "x"}, {"left": "{{ b }}", "op": "eq", "right": "y"}]}
    form = ConditionForm.from_condition(P, condition)
    form.apply("mode:expression")
    assert form.to_condition() == condition
    form.apply("mode:rules")
    assert form.mode == RULES and form.to_condition() == condition


def test_right_values_are_typed_for_their_operator():
    def right(op, text):
        return Row("r", left="{{ x }}", op=op, right=text).to_condition().get("right")

    assert right("eq", "42") == "42"  # operators compare numeric text as numbers
    assert right("eq", "true") is True
    assert right("eq", "Sales") == "Sales"
    assert right("in", "a, b") == ["a", "b"]
    assert right("in", '["a, b", "c"]') == ["a, b", "c"]
    assert right("eq", "{{ input.x }}") == "{{ input.x }}"
    assert right("contains", "a, b") == "a, b"
    assert "right" not in Row("r", left="{{ x }}", op="exists", right="zzz").to_condition()


def test_numbers_come_back_as_numeric_text_which_compares_the_same():
    form = ConditionForm.from_condition(P, {"left": "{{ input.days }}", "op": "gt", "right": 30})
    assert form.to_condition() == {"left": "{{ input.days }}", "op": "gt", "right": "30"}
