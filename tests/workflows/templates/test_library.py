"""The template files: each loads, renders with the demo's inputs into a document the DSL validator
accepts, suggests the narrowest built-in role that covers it, and refuses bad inputs by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from directory.models import AdminRole
from workflows.dsl import validate_definition
from workflows.run_as import narrowest_builtin_role
from workflows.templates_library import CATEGORIES, TemplateInputsInvalid, all_templates, get_template
from workflows.templates_library.library import TemplateFileError, _load
from workflows.templates_library.services import template_instantiate

from .conftest import DEMO_INPUTS

KEYS = [template.key for template in all_templates()]


def test_the_library_has_the_twelve_templates_in_three_categories():
    assert set(KEYS) == set(DEMO_INPUTS)
    assert len(KEYS) >= 12
    assert {t.category for t in all_templates()} == set(CATEGORIES)
    assert [t.category for t in all_templates()] == sorted(
        (t.category for t in all_templates()), key=list(CATEGORIES).index
    )
    for template in all_templates():
        assert template.description.strip() and template.name.strip()
        for item in template.inputs:
            assert item.label and item.help, f"{template.key}.{item.name} needs a label and help text"


def test_each_template_renders_valid_with_the_narrowest_role_and_saves(demo, administrator):
    # One demo company for all twelve: seeding it is most of the cost.
    for template in all_templates():
        definition = template.render(template.clean(DEMO_INPUTS[template.key]))
        assert validate_definition(definition) == [], template.key
        assert "${" not in json.dumps(definition), template.key
        role = narrowest_builtin_role(definition)
        assert role == AdminRole.objects.get(key=template.run_as), f"{template.key}: narrowest is {role}"
        workflow = template_instantiate(template=template, inputs=DEMO_INPUTS[template.key], actor=administrator)
        assert workflow.run_as.key == template.run_as
        assert workflow.current_version.definition == definition
        assert workflow.type == template.trigger_type and workflow.enabled


def test_inputs_are_checked_each_with_its_own_message(demo):
    template = get_template("suspend-inactive-users")
    with pytest.raises(TemplateInputsInvalid) as refused:
        template.clean({"days": "0", "channel": "No such channel", "at": "25:00", "colour": "blue"})
    assert refused.value.errors == {
        "days": ["Enter a number of days from 1 to 3650."],
        "channel": ["No notification channel matches 'No such channel'."],
        "at": ["Enter a time as HH:MM, for example 07:30."],
        "colour": ["This template has no input 'colour'."],
    }
    onboarding = get_template("onboarding-by-department")
    with pytest.raises(TemplateInputsInvalid) as refused:
        onboarding.clean({"department": "Nowhere", "groups": ["Engineering", "Ghosts"], "manager": "{{ 1 }}"})
    assert refused.value.errors == {
        "department": ["No user is in a department called 'Nowhere'."],
        "groups": ["No user group matches 'Ghosts'."],
        "manager": ["Must not contain {{, {%, {# or ${ (template syntax)."],
        "channel": ["This input is required."],
    }


def test_defaults_fill_what_is_left_out_and_objects_become_their_natural_keys(demo):
    template = get_template("suspend-inactive-users")
    values = template.clean({"channel": "it EMAIL list"})
    assert values == {"days": 90, "channel": "IT email list", "at": "07:00", "timezone": "UTC"}
    definition = template.render(values)
    assert definition["trigger"] == {"type": "schedule", "cron": "0 7 * * *", "timezone": "UTC"}
    assert definition["do"][0]["inactive"]["with"]["last_login_at"] == {"older_than_days": 90}
    assert template.render_name(values) == "Suspend users inactive for 90 days"


def test_a_taken_name_is_an_error_of_the_name(demo, administrator):
    template = get_template("reactivate-user")
    template_instantiate(template=template, inputs={}, actor=administrator)
    with pytest.raises(TemplateInputsInvalid) as refused:
        template_instantiate(template=template, inputs={}, actor=administrator)
    assert refused.value.errors == {
        "name": ["A workflow named 'Reactivate a user' already exists; choose another name."]
    }


def _write(tmp_path: Path, **data) -> Path:
    document = {
        "key": "broken",
        "name": "Broken",
        "category": "security",
        "description": "d",
        "run_as": "manager",
        "workflow_name": "Broken",
        "inputs": [{"name": "days", "type": "days", "label": "Days"}],
        "definition": {"dsl": "1.0", "trigger": {"type": "manual"}, "do": [], "x": "${days}"},
    }
    document.update(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"definition": {"x": "${weeks}"}}, "placeholder ${weeks} names no input"),
        ({"definition": {"x": "1"}}, "inputs never used: days"),
        ({"definition": {"x": "${days.hour}"}}, "a number of days has no hour"),
        ({"category": "misc"}, "unknown category 'misc'"),
        ({"run_as": "root"}, "unknown built-in role 'root'"),
        ({"key": "other"}, "key 'other' differs from the file name"),
        ({"inputs": [{"name": "days", "type": "weeks", "label": "W"}]}, "unknown type 'weeks'"),
    ],
)
def test_a_malformed_template_file_fails_loudly(tmp_path, change, message):
    with pytest.raises(TemplateFileError, match=message.replace("$", r"\$").replace("{", r"\{").replace("}", r"\}")):
        _load(_write(tmp_path, **change))
