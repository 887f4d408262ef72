"""The kinds of input a template asks for, one class each, registered by key.

Each kind turns what an admin typed (or picked) into the value placed in the workflow: a
directory object becomes its natural key (a group's name, a user's email) after checking it
exists, a number of days an integer in range, a time of day its hour and minute. Errors are
sentences for the form and the API. The builder form draws each input from its kind's
``widget`` and, for directory objects, the picker of its ``ref``.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from directory.choices import OSFamily
from directory.models import User
from workflows.actions.base import ActionError
from workflows.actions.resolvers import resolve

__all__ = ["INPUT_TYPES", "InputError", "InputType", "get_input_type"]

# Values end up inside Jinja templates: text that would itself be a template is refused.
_TEMPLATE_SYNTAX = re.compile(r"\{\{|\{%|\{#|\$\{")


class InputError(ValueError):
    """What is wrong with one input's value, as a sentence."""


class InputType:
    """One kind of template input. Subclass, set the class attributes, implement ``clean``."""

    key: ClassVar[str]
    label: ClassVar[str]
    # How the form asks for it: picker, picker_many, select, number, time, text.
    widget: ClassVar[str] = "text"
    # The picker kind (``workflows.views.pickers.PICKERS``) for directory objects.
    ref: ClassVar[str] = ""
    # Sub-values a placeholder may name (``${at.hour}``).
    parts: ClassVar[tuple[str, ...]] = ()

    def clean(self, raw: Any) -> Any:
        raise NotImplementedError

    def part(self, value: Any, name: str) -> Any:
        raise KeyError(name)

    def choices(self) -> list[tuple[str, str]]:
        """(value, label) pairs for a select."""
        return []

    def to_text(self, value: Any) -> str:
        """The value as the form shows it again."""
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return "" if value is None else str(value)


INPUT_TYPES: dict[str, InputType] = {}


def register(cls: type[InputType]) -> type[InputType]:
    if cls.key in INPUT_TYPES:
        raise ValueError(f"Template input type {cls.key} is registered twice")
    INPUT_TYPES[cls.key] = cls()
    return cls


def get_input_type(key: str) -> InputType | None:
    return INPUT_TYPES.get(key)


def _text(raw: Any, *, what: str = "a value") -> str:
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        raise InputError(f"Enter {what}.")
    text = str(raw).strip()
    if not text:
        raise InputError("This input is required.")
    if _TEMPLATE_SYNTAX.search(text):
        raise InputError("Must not contain {{, {%, {# or ${ (template syntax).")
    return text


class _ObjectInput(InputType):
    """A directory object, named by its id or natural key; the workflow names it by natural key."""

    widget = "picker"
    noun = ""
    attribute = "name"

    def clean(self, raw: Any) -> str:
        text = _text(raw, what=f"a {self.noun}")
        if text.isdigit() and not (text.isascii() and len(text) <= 18):  # no id is that large
            raise InputError(f"No {self.noun} matches {text!r}.")
        try:
            obj = resolve(self.ref, int(text) if text.isdigit() else text)
        except ActionError as exc:
            raise InputError(f"No {self.noun} matches {text!r}.") from exc
        value = str(getattr(obj, self.attribute))
        if _TEMPLATE_SYNTAX.search(value):
            raise InputError(f"The {self.noun} {value!r} has template syntax in its name; rename it first.")
        return value


@register
class UserInput(_ObjectInput):
    key = ref = "user"
    label = noun = "user"
    attribute = "email"


@register
class GroupInput(_ObjectInput):
    key = ref = "group"
    label = noun = "user group"


@register
class DeviceInput(_ObjectInput):
    key = ref = "device"
    label = noun = "device"
    attribute = "hostname"


@register
class DeviceGroupInput(_ObjectInput):
    key = ref = "device_group"
    label = noun = "device group"


@register
class ChannelInput(_ObjectInput):
    key = ref = "channel"
    label = "notification channel"
    noun = "notification channel"


@register
class PolicyInput(_ObjectInput):
    key = ref = "policy"
    label = noun = "policy"


@register
class CommandInput(_ObjectInput):
    key = ref = "command"
    label = noun = "command"


@register
class GroupsInput(InputType):
    """Several user groups: a list, or names separated by commas or new lines."""

    key = "groups"
    label = "user groups"
    widget = "picker_many"
    ref = "group"

    def clean(self, raw: Any) -> list[str]:
        items = raw if isinstance(raw, list) else re.split(r"[,\n]", raw) if isinstance(raw, str) else None
        if items is None:
            raise InputError("Give a list of user groups.")
        names: list[str] = []
        problems: list[str] = []
        for item in items:
            if isinstance(item, str) and not item.strip():
                continue
            try:
                name = GroupInput().clean(item)
            except InputError as exc:
                problems.append(str(exc))
                continue
            if name not in names:
                names.append(name)
        if problems:
            raise InputError(" ".join(problems))
        if not names:
            raise InputError("Choose at least one user group.")
        return names


@register
class DepartmentInput(InputType):
    """A department as the directory spells it (one some user has)."""

    key = "department"
    label = "department"
    widget = "select"

    def clean(self, raw: Any) -> str:
        text = _text(raw, what="a department")
        known = {d.lower(): d for d in self._departments()}
        if text.lower() not in known:
            raise InputError(f"No user is in a department called {text!r}.")
        return known[text.lower()]

    def choices(self) -> list[tuple[str, str]]:
        return [(d, d) for d in self._departments()]

    @staticmethod
    def _departments() -> list[str]:
        return list(
            User.objects.exclude(department="").order_by("department").values_list("department", flat=True).distinct()
        )


class _CountInput(InputType):
    widget = "number"
    minimum = 1
    maximum = 3650
    unit = "days"

    def clean(self, raw: Any) -> int:
        if isinstance(raw, bool):
            raise InputError("Enter a whole number.")
        try:
            number = int(str(raw).strip()) if isinstance(raw, str | int) else None
        except ValueError:
            number = None
        if number is None:
            raise InputError("Enter a whole number.")
        if not self.minimum <= number <= self.maximum:
            raise InputError(f"Enter a number of {self.unit} from {self.minimum} to {self.maximum}.")
        return number


@register
class DaysInput(_CountInput):
    key = "days"
    label = "number of days"


@register
class DelayDaysInput(_CountInput):
    """Days that may be zero (no delay)."""

    key = "delay_days"
    label = "number of days (0 for none)"
    minimum = 0
    maximum = 365


@register
class HoursInput(_CountInput):
    key = "hours"
    label = "number of hours"
    maximum = 168
    unit = "hours"


@register
class TimeInput(InputType):
    """A time of day, ``HH:MM``; placeholders read ``.hour`` and ``.minute`` (for a cron)."""

    key = "time"
    label = "time of day"
    widget = "time"
    parts = ("hour", "minute")

    def clean(self, raw: Any) -> str:
        text = str(raw).strip() if isinstance(raw, str) else ""
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
        if not match:
            raise InputError("Enter a time as HH:MM, for example 07:30.")
        return f"{int(match.group(1)):02d}:{match.group(2)}"

    def part(self, value: str, name: str) -> int:
        hour, minute = value.split(":")
        return int(hour) if name == "hour" else int(minute)


@register
class TimezoneInput(InputType):
    key = "timezone"
    label = "time zone"
    widget = "select"

    def clean(self, raw: Any) -> str:
        text = _text(raw, what="a time zone")
        try:
            ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InputError(f"{text!r} is not a time zone; use an IANA name such as Europe/Berlin.") from exc
        return text

    def choices(self) -> list[tuple[str, str]]:
        return [(zone, zone) for zone in ["UTC", *sorted(z for z in available_timezones() if "/" in z)]]


@register
class OSFamilyInput(InputType):
    key = "os_family"
    label = "OS family"
    widget = "select"

    def clean(self, raw: Any) -> str:
        if raw not in OSFamily.values:
            raise InputError(f"Choose one of {', '.join(OSFamily.values)}.")
        return raw

    def choices(self) -> list[tuple[str, str]]:
        return list(OSFamily.choices)
