"""Schedules in plain words, cron presets, and the next run times in the schedule's time zone.

The describer covers what admins write (every N minutes, hourly, daily, weekdays, weekly,
monthly, yearly, lists and ranges of days); anything else reads as "At cron …" rather than a
guess. Next run times come from ``workflows.schedules.slots_after``, the function the scheduler
arms its slots with, so the page shows the times the workflow will really run.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from functools import cache
from typing import Any

from croniter import croniter
from django.utils import timezone

from workflows.schedules import slots_after

__all__ = ["PRESETS", "describe_cron", "describe_schedule", "next_runs", "timezone_names"]

# (label, cron) offered beside the cron field.
PRESETS: tuple[tuple[str, str], ...] = (
    ("Every 15 minutes", "*/15 * * * *"),
    ("Every hour", "0 * * * *"),
    ("Every day at 09:00", "0 9 * * *"),
    ("Every weekday at 09:00", "0 9 * * 1-5"),
    ("Every Monday at 09:00", "0 9 * * 1"),
    ("First day of every month at 09:00", "0 9 1 * *"),
)

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_DAY_NAMES = {name[:3].lower(): index for index, name in enumerate(_DAYS)}
_MONTHS = [
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
]  # fmt: skip


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _day(token: str) -> int | None:
    token = token.strip().lower()
    if token.isdigit():
        return int(token) % 7
    return _DAY_NAMES.get(token[:3])


def _weekdays(field: str) -> str | None:
    """'1-5' → 'weekday'; '0,6' → 'Saturday and Sunday'; None when not a plain list/range."""
    days: list[int] = []
    for part in field.split(","):
        if "-" in part:
            start, _, end = part.partition("-")
            first, last = _day(start), _day(end)
            if first is None or last is None:
                return None
            last = 7 if end.strip() == "7" else last
            days.extend(d % 7 for d in range(first, (last if last >= first else last + 7) + 1))
        else:
            day = _day(part)
            if day is None:
                return None
            days.append(day)
    unique = sorted(set(days), key=lambda d: (d + 6) % 7)  # Monday first
    if unique == [1, 2, 3, 4, 5]:
        return "weekday"
    if unique == [6, 0]:
        return "weekend day"
    return _and([_DAYS[d] for d in unique])


def _numbers(field: str, low: int, high: int) -> list[int] | None:
    values: list[int] = []
    for part in field.split(","):
        if part.isdigit():
            values.append(int(part))
        elif "-" in part and all(p.isdigit() for p in part.split("-", 1)):
            start, end = (int(p) for p in part.split("-", 1))
            values.extend(range(start, end + 1))
        else:
            return None
    return values if all(low <= v <= high for v in values) else None


def _times(minute: str, hour: str) -> str | None:
    minutes, hours = _numbers(minute, 0, 59), _numbers(hour, 0, 23)
    if not minutes or not hours or len(minutes) * len(hours) > 4:
        return None
    return _and([f"{h:02d}:{m:02d}" for h in hours for m in minutes])


def _sub_daily(minute: str, hour: str) -> str | None:
    if minute == "*" and hour == "*":
        return "Every minute"
    if minute.startswith("*/") and minute[2:].isdigit() and hour == "*":
        return f"Every {int(minute[2:])} minutes"
    if minute.isdigit() and hour == "*":
        return "Every hour" if minute == "0" else f"Every hour at {int(minute)} minutes past"
    if minute.isdigit() and hour.startswith("*/") and hour[2:].isdigit():
        step = int(hour[2:])
        return f"Every {step} hours" + ("" if minute == "0" else f" at {int(minute)} minutes past")
    return None


def describe_cron(expression: str) -> str:
    """Plain words for a five-field cron expression (or an @alias)."""
    expression = " ".join(expression.split())
    fields = _ALIASES.get(expression, expression).split()
    if len(fields) != 5:
        return f"At cron {expression}"
    minute, hour, dom, month, dow = fields
    often = _sub_daily(minute, hour)
    if often and dom == "*" and month == "*" and dow == "*":
        return often
    times = _times(minute, hour)
    if times is None:
        return f"At cron {expression}"
    when = f"at {times}"
    if dom == "*" and month == "*":
        if dow == "*":
            return f"Every day {when}"
        days = _weekdays(dow)
        return f"Every {days} {when}" if days else f"At cron {expression}"
    days_of_month = _numbers(dom, 1, 31) if dom != "*" else None
    months = _numbers(month, 1, 12) if month != "*" else None
    if dow != "*" or (dom != "*" and not days_of_month) or (month != "*" and not months):
        return f"At cron {expression}"
    on = f"on the {_and([_ordinal(d) for d in days_of_month])}" if days_of_month else "every day"
    if months:
        return f"{on[0].upper()}{on[1:]} of {_and([_MONTHS[m - 1] for m in months])} {when}"
    return f"{on[0].upper()}{on[1:]} of every month {when}"


def describe_schedule(trigger: dict[str, Any]) -> str:
    """ "Every weekday at 09:00 Europe/Berlin", "Once on 2030-01-31 at 09:00 UTC"."""
    zone = trigger.get("timezone") or "UTC"
    once = trigger.get("once")
    if isinstance(once, str) and once:
        try:
            moment = dt.datetime.fromisoformat(once)
        except ValueError:
            return f"Once at {once}"
        if moment.tzinfo is not None:
            with contextlib.suppress(zoneinfo.ZoneInfoNotFoundError, ValueError):
                moment = moment.astimezone(zoneinfo.ZoneInfo(zone))
        return f"Once on {moment:%Y-%m-%d} at {moment:%H:%M} {zone}"
    cron = trigger.get("cron")
    if not isinstance(cron, str) or not cron.strip():
        return "On a schedule — choose when"
    return f"{describe_cron(cron)} {zone}"


def next_runs(trigger: dict[str, Any], count: int = 5, now: dt.datetime | None = None) -> list[dt.datetime]:
    """The next ``count`` run times in the schedule's own time zone; empty when they cannot be known."""
    try:
        zone = zoneinfo.ZoneInfo(trigger.get("timezone") or "UTC")
        cron = trigger.get("cron")
        if cron and not croniter.is_valid(cron):
            return []
        slots = slots_after(trigger, now or timezone.now(), count)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, KeyError, TypeError):  # croniter's errors are ValueErrors
        return []
    return [slot.astimezone(zone) for slot in slots]


@cache
def timezone_names() -> tuple[str, ...]:
    """Every IANA time zone name, sorted, for the time zone field's suggestions."""
    return tuple(sorted(zoneinfo.available_timezones()))
