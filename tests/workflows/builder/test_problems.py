"""Placing the validator's problems on cards and panel fields."""

from __future__ import annotations

from workflows.builder.problems import TRIGGER, WORKFLOW, field_errors, place_problems, slot_id
from workflows.dsl import Problem, validate_definition

DOC = {
    "dsl": "1.0",
    "trigger": {"type": "event", "event": "user.creatd"},
    "do": [
        {"a": {"call": "user.suspend", "with": {}}},
        {
            "ab": {
                "for": {"each": "item", "in": ""},
                "do": [{"inner": {"call": "user.update", "with": {"user": 5, "nope": 1}}}],
            }
        },
    ],
}


def test_problems_go_to_the_innermost_card_they_name():
    placed = place_problems(DOC, validate_definition(DOC))
    assert placed.messages(TRIGGER) == ["unknown event type 'user.creatd' (did you mean 'user.created'?)"]
    assert placed.on("do[0].a") == [("with.user", "missing required param 'user'")]
    assert [rest for rest, _ in placed.on("do[1].ab")] == ["for.in"]
    assert [rest for rest, _ in placed.on("do[1].ab.do[0].inner")] == ["with.nope"]
    assert placed.total == 4


def test_document_level_problems_go_to_the_top_bar():
    placed = place_problems(
        DOC, [Problem("run_as", "Choose the role."), Problem("name", "Taken."), Problem("input.schema.type", "x")]
    )
    assert placed.messages(WORKFLOW) == ["Choose the role.", "Taken."]
    assert placed.messages(TRIGGER) == ["x"]


def test_field_errors_match_the_longest_field_key():
    problems = [
        ("with.user", "missing"),
        ("with.attributes.team", "bad"),
        ("retry.max_delay", "big"),
        ("call", "lacks perm"),
        ("nope", "x"),
    ]
    errors = field_errors(problems, ["with.user", "with.attributes", "retry", "with"])
    assert errors == {
        "with.user": ["missing"],
        "with.attributes": ["bad"],
        "retry": ["big"],
        "": ["lacks perm", "nope: x"],
    }


def test_slot_ids():
    assert slot_id("with.user") == "err-with-user"
    assert slot_id("switch[0]") == "err-switch-0"
    assert slot_id("") == "err-general"
