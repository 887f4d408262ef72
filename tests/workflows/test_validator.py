"""The DSL validator on a corpus of good and bad documents, with the exact paths and messages.

``corpus/good/*.json`` are workflow documents that must produce no problem; each
``corpus/bad/*.json`` holds a ``document`` and the exact ``problems`` (``[path, message]``,
in order) it must produce. No test here touches the database.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from workflows.dsl import DSL_VERSION, Problem, iter_tasks, load_schema, validate_definition
from workflows.operators import all_operators

CORPUS = Path(__file__).parent / "corpus"
GOOD = sorted((CORPUS / "good").glob("*.json"))
BAD = sorted((CORPUS / "bad").glob("*.json"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_corpus_is_there() -> None:
    assert len(GOOD) >= 10 and len(BAD) >= 20


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_documents_have_no_problems(path: Path) -> None:
    assert validate_definition(_load(path)) == []


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_documents_match_the_published_schema(path: Path) -> None:
    Draft202012Validator(load_schema()).validate(_load(path))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_documents_report_every_problem_with_its_exact_path(path: Path) -> None:
    case = _load(path)
    expected = [Problem(problem_path, message) for problem_path, message in case["problems"]]
    assert expected, f"{path.name} lists no problems"
    assert validate_definition(case["document"]) == expected


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_validation_does_not_change_the_document(path: Path) -> None:
    document = _load(path)["document"]
    before = copy.deepcopy(document)
    validate_definition(document)
    assert document == before


@pytest.mark.parametrize("doc", [[], "dsl", None, 1])
def test_a_document_that_is_not_an_object(doc: Any) -> None:
    assert validate_definition(doc) == [Problem("", "a workflow definition must be a JSON object")]


# --- schedules relative to now --------------------------------------------------------------------


def _once(once: str, **extra: Any) -> dict[str, Any]:
    return {"dsl": "1.0", "trigger": {"type": "schedule", "once": once, **extra}, "do": []}


def test_once_must_lie_after_now() -> None:
    now = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert validate_definition(_once("2030-06-01T14:01:00+02:00"), now=now) == []
    assert validate_definition(_once("2030-06-01T14:00:00+02:00"), now=now) == [
        Problem("trigger.once", "2030-06-01T14:00:00+02:00 is not in the future")
    ]
    assert validate_definition(_once("2030-06-01T11:59:59Z"), now=now) == [
        Problem("trigger.once", "2030-06-01T11:59:59Z is not in the future")
    ]


def test_once_without_offset_is_read_in_the_trigger_time_zone() -> None:
    now = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)  # 14:00 in Berlin (summer time)
    assert validate_definition(_once("2030-06-01T14:30:00", timezone="Europe/Berlin"), now=now) == []
    assert validate_definition(_once("2030-06-01T13:30:00", timezone="Europe/Berlin"), now=now) == [
        Problem("trigger.once", "2030-06-01T13:30:00 is not in the future")
    ]
    assert validate_definition(_once("2030-06-01T14:30:00", timezone="Moon/Base"), now=now) == [
        Problem("trigger.timezone", "unknown time zone 'Moon/Base'")
    ]


# --- params and the registry ----------------------------------------------------------------------


def _call(action: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"dsl": "1.0", "trigger": {"type": "manual"}, "do": [{"t": {"call": action, "with": params}}]}


@pytest.mark.parametrize(
    "params",
    [
        {"user": 1},
        {"user": "ann@example.com"},
        {"user": "{{ input.user }}"},
        {"user": "{{ input.user_id|int }}"},
        {"user": "{{ steps is defined }}"},  # an expression's type is known only at run time
    ],
)
def test_reference_params_take_an_id_a_natural_key_or_an_expression(params: dict[str, Any]) -> None:
    assert validate_definition(_call("user.suspend", params)) == []


def test_a_nested_expression_is_exempt_but_its_literal_neighbours_are_checked() -> None:
    params = {"user": 1, "attributes": {"team": "{{ input.team }}"}, "hire_date": "{{ now() }}", "mfa_enrolled": 1}
    assert validate_definition(_call("user.update", params)) == [
        Problem("do[0].t.with.mfa_enrolled", "must be true or false")
    ]


# --- iter_tasks -----------------------------------------------------------------------------------


def test_iter_tasks_lists_every_task_in_document_order() -> None:
    doc = _load(CORPUS / "good" / "switch_routes.json")
    assert [(path, name) for path, name, _task in iter_tasks(doc)] == [
        ("do[0].lookup", "lookup"),
        ("do[1].route", "route"),
        ("do[1].route.switch[0].sales.do[0].to_sales", "to_sales"),
        ("do[1].route.switch[0].sales.do[1].note_case", "note_case"),
        ("do[1].route.switch[1].eng.do[0].to_eng", "to_eng"),
        ("do[1].route.switch[2].default.do[0].to_all", "to_all"),
        ("do[2].report", "report"),
    ]
    calls = [task["call"] for _path, _name, task in iter_tasks(doc) if "call" in task]
    assert calls == [
        "user.activate",
        "user.add_to_group",
        "user.update",
        "user.add_to_group",
        "user.add_to_group",
        "user.update",
    ]


def test_iter_tasks_walks_nested_loops() -> None:
    doc = _load(CORPUS / "good" / "nested_loops.json")
    assert [path for path, _name, _task in iter_tasks(doc)] == [
        "do[0].teams",
        "do[0].teams.do[0].members",
        "do[0].teams.do[0].members.do[0].move",
        "do[0].teams.do[0].members.do[1].confirm",
        "do[1].literal_list",
        "do[1].literal_list.do[0].wake",
        "do[2].after",
    ]


def test_iter_tasks_skips_what_is_malformed() -> None:
    doc = {
        "do": [
            "text",
            {"a": {"call": "x"}, "b": {"call": "y"}},
            {"c": "not a task"},
            {"d": {"switch": ["bad", {"e": {"do": [{"f": {"call": "z"}}]}}, {"g": "bad"}]}},
            {"h": {"for": {}, "do": "bad"}},
        ]
    }
    assert [path for path, _name, _task in iter_tasks(doc)] == ["do[3].d", "do[3].d.switch[1].e.do[0].f", "do[4].h"]
    assert list(iter_tasks([])) == []
    assert list(iter_tasks({"do": None})) == []


# --- the published schema -------------------------------------------------------------------------


def test_the_published_schema_is_valid_json_schema_and_lists_the_operators() -> None:
    schema = load_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["dsl"]["const"] == DSL_VERSION
    assert schema["$defs"]["comparison"]["properties"]["op"]["enum"] == [op.key for op in all_operators()]


def test_load_schema_returns_a_copy() -> None:
    schema = load_schema()
    schema["$defs"].clear()
    assert load_schema()["$defs"]


@pytest.mark.parametrize("name", ["top_level", "task_shape", "switches", "loops", "schedule_both"])
def test_shape_errors_are_schema_errors_too(name: str) -> None:
    document = _load(CORPUS / "bad" / f"{name}.json")["document"]
    assert not Draft202012Validator(load_schema()).is_valid(document)


def test_the_task_options_the_runner_relies_on() -> None:
    task = load_schema()["$defs"]["call_task"]["properties"]
    assert set(task) == {"call", "with", "if", "retry", "timeout", "on_error", "description"}
    retry = load_schema()["$defs"]["retry"]["properties"]
    assert set(retry) == {"max_attempts", "backoff", "initial_delay", "max_delay", "jitter"}
    assert retry["backoff"]["enum"] == ["exponential", "fixed"]
    assert load_schema()["$defs"]["on_error"]["enum"] == ["fail", "continue"]
    assert set(load_schema()["$defs"]["loop"]["properties"]) == {"each", "in", "max_iterations"}


def test_problems_are_values() -> None:
    assert Problem("do[0].x", "m") == Problem("do[0].x", "m")
    assert len({Problem("a", "m"), Problem("a", "m")}) == 1
    with pytest.raises(AttributeError):
        Problem("a", "m").path = "b"  # type: ignore[misc]
