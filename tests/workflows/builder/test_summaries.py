"""One-line summaries of cards and triggers, and schedules in plain words."""

from __future__ import annotations

import datetime as dt

import pytest

from workflows.builder.cron import describe_cron, describe_schedule, next_runs
from workflows.builder.summaries import condition_summary, event_phrase, task_summary, trigger_summary


def test_call_summary_puts_param_values_into_the_action_label():
    task = {"call": "user.add_to_group", "with": {"user": "{{ event.user.email }}", "group": "Engineering"}}
    assert task_summary(task) == "Add {{ event.user.email }} to Engineering"


def test_call_summary_lists_params_the_label_does_not_name():
    task = {"call": "user.update", "with": {"user": "ann", "job_title": "CTO", "department": "Exec", "location": "X"}}
    assert task_summary(task) == "Update ann — job title: CTO, department: Exec +1 more"


def test_call_summary_of_an_unset_or_unknown_action():
    assert task_summary({"call": "user.suspend", "with": {}}) == "Suspend user — not set up yet"
    assert task_summary({"call": "user.vanish"}) == "Unknown action 'user.vanish'"


def test_flow_summaries_and_guards():
    switch = {"switch": [{"a": {"when": {"left": "{{ input.kind }}", "op": "eq", "right": "contractor"}, "do": []}}]}
    assert task_summary(switch) == "If kind equals contractor"
    loop = {"for": {"each": "device", "in": "{{ event.user.devices }}"}, "do": []}
    assert task_summary(loop) == "For each device in event.user.devices"
    guarded = {"call": "user.suspend", "with": {"user": "ann"}, "if": "input.really"}
    assert task_summary(guarded) == "Suspend ann — only if input.really"


def test_condition_summaries():
    condition = {
        "all": [
            {"left": "{{ event.user.department }}", "op": "eq", "right": "Sales"},
            {"not": {"left": "{{ event.user.manager }}", "op": "exists"}},
            {"any": [{"left": "{{ input.n }}", "op": "gt", "right": 3}, "input.force"]},
        ]
    }
    assert condition_summary(condition) == (
        "user.department equals Sales and not (user.manager is set) and (n is greater th…"
    )
    assert len(condition_summary(condition)) == 80
    assert condition_summary(True) == "always"
    assert condition_summary("") == "no condition yet"


@pytest.mark.parametrize(
    ("key", "phrase"),
    [
        ("user.created", "a user is created"),
        ("user_group.member_added", "a user group gains a member"),
        ("device.deleted", "a device is deleted"),
        ("command.finished", "a command finishes"),
        ("user.renamed", "the event user.renamed"),
    ],
)
def test_event_phrases(key, phrase):
    assert event_phrase(key) == phrase


def test_trigger_summaries():
    assert trigger_summary({"type": "manual"}) == "Manual"
    department = {"left": "{{ event.user.department }}", "op": "eq", "right": "Engineering"}
    event = {"type": "event", "event": "user.created", "when": department}
    assert trigger_summary(event) == "When a user is created in Engineering"
    event["when"] = "event.user.state == 'active'"
    assert trigger_summary(event) == "When a user is created, if event.user.state == 'active'"
    schedule = {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}
    assert trigger_summary(schedule) == "Every weekday at 09:00 Europe/Berlin"


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("*/15 * * * *", "Every 15 minutes"),
        ("0 * * * *", "Every hour"),
        ("30 * * * *", "Every hour at 30 minutes past"),
        ("0 */2 * * *", "Every 2 hours"),
        ("0 9 * * *", "Every day at 09:00"),
        ("0 9 * * 1-5", "Every weekday at 09:00"),
        ("0 9 * * mon-fri", "Every weekday at 09:00"),
        ("0 10 * * 6,0", "Every weekend day at 10:00"),
        ("15 8 * * 1,3,5", "Every Monday, Wednesday and Friday at 08:15"),
        ("0 9 1 * *", "On the 1st of every month at 09:00"),
        ("0 0 1 1 *", "On the 1st of January at 00:00"),
        ("@daily", "Every day at 00:00"),
        ("0 9 * * 1#2", "At cron 0 9 * * 1#2"),
        ("not cron", "At cron not cron"),
    ],
)
def test_cron_in_plain_words(cron, words):
    assert describe_cron(cron) == words


def test_once_schedules_read_in_their_time_zone():
    trigger = {"type": "schedule", "once": "2030-01-31T08:00:00+00:00", "timezone": "Europe/Berlin"}
    assert describe_schedule(trigger) == "Once on 2030-01-31 at 09:00 Europe/Berlin"


def test_next_runs_are_in_the_schedules_time_zone():
    now = dt.datetime(2030, 3, 29, 12, 0, tzinfo=dt.UTC)  # a Friday, before the DST change in Berlin
    runs = next_runs({"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}, 3, now)
    assert [r.strftime("%a %d %H:%M %Z") for r in runs] == [
        "Mon 01 09:00 CEST",
        "Tue 02 09:00 CEST",
        "Wed 03 09:00 CEST",
    ]
    assert next_runs({"cron": "bad", "timezone": "UTC"}, 5, now) == []
    assert next_runs({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, 5, now) == []
