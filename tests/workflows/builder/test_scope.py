"""The variable picker's list: what is in scope at each card, from the document alone."""

from __future__ import annotations

from workflows.builder.scope import variables_at


def expressions(groups, title_start=""):
    return [v.expression for g in groups if g.title.startswith(title_start) for v in g.variables]


MANUAL = {
    "dsl": "1.0",
    "trigger": {"type": "manual"},
    "input": {
        "schema": {
            "type": "object",
            "properties": {
                "email": {"type": "string", "description": "Who leaves"},
                "people": {"type": "array", "items": {"type": "object", "properties": {"email": {}, "team": {}}}},
            },
        }
    },
    "do": [
        {"retitle": {"call": "user.update", "with": {"user": "x", "job_title": "y"}}},
        {
            "check": {
                "switch": [
                    {"b": {"when": "input.email", "do": [{"inside": {"call": "user.suspend", "with": {"user": "z"}}}]}},
                    {"default": {"do": []}},
                ]
            }
        },
        {
            "each_person": {
                "for": {"each": "person", "in": "{{ input.people }}"},
                "do": [{"add": {"call": "user.add_to_group", "with": {"user": "{{ person.email }}", "group": "g"}}}],
            }
        },
    ],
}


def test_input_fields_and_earlier_steps_are_in_scope():
    groups = variables_at(MANUAL, "do[1].check")
    assert "input.email" in expressions(groups, "Input")
    assert [g.title for g in groups] == ["Input", "Step: retitle", "Workflow"]
    retitle = expressions(groups, "Step: retitle")
    # From user.update's output_schema.
    assert {
        "steps.retitle.status",
        "steps.retitle.output",
        "steps.retitle.output.email",
        "steps.retitle.output.changes",
    } <= set(retitle)
    assert not any(e.startswith("event.") for e in expressions(groups))


def test_a_task_sees_nothing_after_it_but_a_branch_sees_its_switch():
    first = variables_at(MANUAL, "do[0].retitle")
    assert expressions(first, "Step") == []
    inside = variables_at(MANUAL, "do[1].check.switch[0].b.do[0].inside")
    assert "steps.check.output.case" in expressions(inside, "Step: check")


def test_loop_variable_with_its_items_fields():
    groups = variables_at(MANUAL, "do[2].each_person.do[0].add")
    loop = expressions(groups, "Loop item")
    assert loop[:3] == ["person", "person.email", "person.team"]
    assert "loop.index" in loop
    # The tasks of the branch before the loop ran (or were skipped) before it.
    assert "steps.inside.status" in expressions(groups, "Step: inside")
    assert "steps.each_person.output.count" in expressions(groups, "Step: each_person")


def test_event_workflows_offer_the_event_catalogues_fields():
    doc = {
        "dsl": "1.0",
        "trigger": {"type": "event", "event": "user.created"},
        "do": [{"a": {"call": "user.suspend", "with": {}}}],
    }
    event = expressions(variables_at(doc, "do[0].a"), "Event")
    assert {"event.type", "event.user.email", "event.user.department", "event.user.groups"} <= set(event)
    assert "input" not in {v.split(".")[0] for v in expressions(variables_at(doc, "do[0].a"))}
    # The trigger's filter sees the event only.
    assert [g.title for g in variables_at(doc, None)] == ["Event: user.created"]


def test_looping_over_an_events_devices_offers_device_fields():
    doc = {
        "dsl": "1.0",
        "trigger": {"type": "event", "event": "user.suspended"},
        "do": [
            {
                "each": {
                    "for": {"each": "device", "in": "{{ event.user.devices }}"},
                    "do": [{"x": {"call": "user.suspend"}}],
                }
            }
        ],
    }
    loop = expressions(variables_at(doc, "do[0].each.do[0].x"), "Loop item")
    assert "device.hostname" in loop


def test_reference_is_a_template():
    groups = variables_at(MANUAL, "do[0].retitle")
    assert groups[0].variables[0].reference == "{{ input.email }}"
