"""ISO 8601 durations and times for ``wait`` tasks (``PT30M``, ``P3D``, ``2027-01-04T09:00:00+01:00``).

Small and strict: years and months are refused (their length depends on the calendar), so a
duration is always a fixed number of seconds. A number is taken as seconds.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_DURATION = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


class DurationError(ValueError):
    """The value is not a duration or a time a wait can use; the message says why."""


def parse_duration(value: Any) -> dt.timedelta:
    """A ``timedelta`` from an ISO 8601 duration (weeks, days, hours, minutes, seconds) or seconds."""
    if isinstance(value, bool):
        raise DurationError("must be an ISO 8601 duration such as PT30M or P3D, or a number of seconds")
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError("must not be negative")
        return dt.timedelta(seconds=value)
    if not isinstance(value, str):
        raise DurationError("must be an ISO 8601 duration such as PT30M or P3D, or a number of seconds")
    text = value.strip().upper()
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        hint = " (years and months are not fixed lengths: use days)" if re.search(r"\dY|P[^T]*\dM", text) else ""
        raise DurationError(f"{value!r} is not an ISO 8601 duration such as PT30M or P3D{hint}")
    parts = {name: float(amount) for name, amount in match.groupdict().items() if amount}
    return dt.timedelta(**parts)


def parse_time(value: Any) -> dt.datetime:
    """An aware ``datetime`` from an ISO 8601 date-time with its offset (or ``Z``)."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise DurationError(f"{value!r} is not an ISO 8601 date-time") from exc
    else:
        raise DurationError("must be an ISO 8601 date-time with its offset, e.g. 2027-01-04T09:00:00+01:00")
    if moment.tzinfo is None:
        raise DurationError(f"{value!r} needs a UTC offset or Z, e.g. 2027-01-04T09:00:00+01:00")
    return moment
