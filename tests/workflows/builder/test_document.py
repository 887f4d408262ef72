"""Editing a DSL document by path: what the canvas's insert, move, duplicate, delete and rename do."""

from __future__ import annotations

import copy

import pytest

from workflows.builder import document
from workflows.builder.document import EditRefused
from workflows.dsl import validate_definition

DOC = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "do": [
        {"first": {"call": "user.suspend", "with": {"user": "ann"}}},
        {
            "check": {
                "switch": [
                    {
                        "branch_1": {
                            "when": "{{ input.x == 1 }}",
                            "do": [{"inner": {"call": "user.activate", "with": {"user": "bob"}}}],
                        }
                    },
                    {"default": {"do": []}},
                ]
            }
        },
        {
            "each": {
                "for": {"each": "item", "in": "{{ input.people }}"},
                "do": [
                    {
                        "touch": {
                            "call": "user.update",
                            "with": {"user": "{{ item }}", "job_title": "{{ steps.first.status }}"},
                        }
                    }
                ],
            }
        },
    ],
}


@pytest.fixture
def doc():
    return copy.deepcopy(DOC)


def names(lane):
    return [next(iter(entry)) for entry in lane]


def test_insert_at_a_place_in_a_nested_lane(doc):
    name, task = document.new_task(doc, "call", "do[1].check.switch[1].default.do", "user.suspend")
    assert (name, task) == ("suspend", {"call": "user.suspend", "with": {}})
    path = document.insert_task(doc, "do[1].check.switch[1].default.do", 0, name, task)
    assert path == "do[1].check.switch[1].default.do[0].suspend"
    assert names(doc["do"][1]["check"]["switch"][1]["default"]["do"]) == ["suspend"]


def test_new_names_are_unique_across_the_document(doc):
    assert document.unique_name(doc, "first") == "first_2"
    assert document.unique_name(doc, "user.add-to group") == "user_add_to_group"
    assert document.unique_name(doc, "9lives") == "task_9lives"
    assert document.new_task(doc, "if_else", "do")[0] == "check_2"


def test_a_new_loop_does_not_hide_the_enclosing_loop_variable(doc):
    _name, loop = document.new_task(doc, "loop", "do[2].each.do")
    assert loop["for"]["each"] == "item_2"
    _name, outer = document.new_task(doc, "loop", "do")
    assert outer["for"]["each"] == "item"


def test_new_if_else_is_a_switch_with_one_case_and_a_default(doc):
    _name, task = document.new_task(doc, "if_else", "do")
    assert task == {"switch": [{"branch_1": {"when": "", "do": []}}, {"default": {"do": []}}]}


def test_move_within_a_lane_and_between_lanes(doc):
    assert document.move_task(doc, "do[0].first", "do", 2) == "do[2].first"
    assert names(doc["do"]) == ["check", "each", "first"]
    # Into a branch: the target lane's path was computed before the move shifted indexes.
    new = document.move_task(doc, "do[2].first", "do[0].check.switch[1].default.do", 0)
    assert new == "do[0].check.switch[1].default.do[0].first"
    assert names(doc["do"]) == ["check", "each"]
    # From a branch to the loop's body, whose index the removal does not change.
    assert document.move_task(doc, "do[0].check.switch[0].branch_1.do[0].inner", "do[1].each.do", 1) == (
        "do[1].each.do[1].inner"
    )
    assert doc["do"][0]["check"]["switch"][0]["branch_1"]["do"] == []


def test_move_earlier_task_into_a_later_lane_uses_the_lane_before_removal(doc):
    assert document.move_task(doc, "do[0].first", "do[2].each.do", 0) == "do[1].each.do[0].first"
    assert names(doc["do"][1]["each"]["do"]) == ["first", "touch"]


def test_a_card_cannot_move_into_itself(doc):
    with pytest.raises(EditRefused, match="inside itself"):
        document.move_task(doc, "do[2].each", "do[2].each.do", 0)


def test_stale_paths_fall_back_to_the_task_name(doc):
    # Another tab moved "each" to the top; this tab still says do[2].
    document.move_task(doc, "do[2].each", "do", 0)
    document.delete_task(doc, "do[2].each")
    assert names(doc["do"]) == ["first", "check"]
    with pytest.raises(EditRefused, match="no task named 'gone'"):
        document.delete_task(doc, "do[0].gone")


def test_duplicate_renames_the_copy_and_its_inner_tasks(doc):
    path = document.duplicate_task(doc, "do[2].each")
    assert path == "do[3].each_2"
    copy_ = doc["do"][3]["each_2"]
    assert names(copy_["do"]) == ["touch_2"]
    assert validate_definition(doc) == []


def test_rename_rewrites_step_references(doc):
    assert document.rename_task(doc, "do[0].first", "suspend_ann") == "do[0].suspend_ann"
    touch = doc["do"][2]["each"]["do"][0]["touch"]
    assert touch["with"]["job_title"] == "{{ steps.suspend_ann.status }}"
    with pytest.raises(EditRefused, match="already named"):
        document.rename_task(doc, "do[1].check", "each")
    with pytest.raises(EditRefused, match="letters, digits"):
        document.rename_task(doc, "do[1].check", "2 bad")


def test_branches_are_added_before_the_default_and_the_last_condition_stays(doc):
    assert document.add_branch(doc, "do[1].check") == 1
    cases = doc["do"][1]["check"]["switch"]
    assert [next(iter(c)) for c in cases] == ["branch_1", "branch_3", "default"]
    document.remove_branch(doc, "do[1].check", 0)
    with pytest.raises(EditRefused, match="at least one condition"):
        document.remove_branch(doc, "do[1].check", 0)
    document.remove_branch(doc, "do[1].check", 1)  # the default may go
    assert [next(iter(c)) for c in cases] == ["branch_3"]


@pytest.mark.parametrize(
    ("doc", "where"),
    [
        ([], ""),
        ({"trigger": {"type": "nope"}, "do": []}, "trigger"),
        ({"trigger": {"type": "manual"}, "do": {}}, "do"),
        ({"trigger": {"type": "manual"}, "do": [{"a": {}, "b": {}}]}, "do[0]"),
        ({"trigger": {"type": "manual"}, "do": [{"s": {"switch": [1]}}]}, "do[0].s.switch[0]"),
    ],
)
def test_drawable_problems_name_where_the_canvas_cannot_draw(doc, where):
    assert [path for path, _message in document.drawable_problems(doc)] == [where]


def test_a_valid_document_is_drawable(doc):
    assert document.drawable_problems(doc) == []
