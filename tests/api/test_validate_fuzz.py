"""Fuzzing ``POST /api/v1/workflows/validate/``: whatever document is sent, the answer is a 200 (with
its problems) or a 400, never a 500, and it comes quickly.

Documents mix well-formed tasks (calls, switches, loops nested to random depths, with random
expressions and conditions), JSON of any shape where the DSL expects something else, and the
shapes that used to break the validator (deep nesting, thousands of tasks). A fixed budget
(derandomized, a set number of examples, no example database) keeps it well under a minute.
"""

from __future__ import annotations

import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.workflows.test_expression_fuzz import EXPRESSIONS
from tests.workflows.test_limits import many_tasks, nested_fors, nested_switches

VALIDATE = "/api/v1/workflows/validate/"

NAMES = st.sampled_from(["a", "b", "notify", "each", "x1", "_", "1bad", "has space", "steps", "input"])
JUNK = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20,
)
TEMPLATES = EXPRESSIONS.map(lambda e: "{{ " + e + " }}")
VALUES = st.one_of(TEMPLATES, JUNK, st.just("{{ input.user }}"), st.just("{% for x in y %}{{ x }}{% endfor %}"))
CONDITIONS = st.recursive(
    st.one_of(EXPRESSIONS, TEMPLATES, st.booleans(), st.fixed_dictionaries({"left": VALUES, "op": st.just("eq")})),
    lambda children: st.one_of(
        st.fixed_dictionaries({"all": st.lists(children, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"any": st.lists(children, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"not": children}),
    ),
    max_leaves=8,
)
ACTIONS = st.sampled_from(["user.update", "user.suspend", "user.add_to_group", "no.such.action"])


def _task(blocks: st.SearchStrategy[list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    call = st.fixed_dictionaries(
        {"call": ACTIONS, "with": st.dictionaries(st.sampled_from(["user", "group", "job_title"]), VALUES, max_size=3)},
        optional={"if": CONDITIONS, "timeout": JUNK},
    )
    case = st.fixed_dictionaries({"when": CONDITIONS, "do": blocks})
    switch = st.fixed_dictionaries({"switch": st.lists(st.dictionaries(NAMES, case, min_size=1))})
    loop = st.fixed_dictionaries(
        {"for": st.fixed_dictionaries({"each": NAMES, "in": st.one_of(TEMPLATES, JUNK)}), "do": blocks}
    )
    return st.dictionaries(NAMES, st.one_of(call, switch, loop, JUNK), min_size=1, max_size=1)


BLOCKS = st.recursive(st.just([]), lambda blocks: st.lists(_task(blocks), max_size=3), max_leaves=12)
TRIGGERS = st.one_of(
    st.just({"type": "manual"}),
    st.fixed_dictionaries({"type": st.just("event"), "event": st.just("user.created"), "when": CONDITIONS}),
    JUNK,
)
DOCUMENTS = st.one_of(
    st.fixed_dictionaries({"dsl": st.just("1.0"), "trigger": TRIGGERS, "do": BLOCKS}),
    JUNK,
    st.integers(30, 120).map(nested_fors),
    st.integers(10, 60).map(nested_switches),
    st.integers(490, 2000).map(many_tasks),
)


@settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,  # timed below: a slow answer is the failure, with the document that caused it
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
@given(document=DOCUMENTS)
def test_validate_never_answers_500(admin_api: APIClient, document: Any) -> None:
    started = time.thread_time()
    response = admin_api.post(VALIDATE, {"definition": document}, format="json")
    assert response.status_code in (200, 400), response.content[:500]
    assert time.thread_time() - started < 5
