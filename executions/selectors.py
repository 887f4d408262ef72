"""Reads for the execution history: filtered keyset pages, one execution with its steps, exports.

Pages are keyset-paged on ``(queued_at, id)`` (newest first), served by the history indexes
(``Execution.Meta.indexes``), so the thousandth page costs what the first does; each page is a
fixed number of queries however many rows it shows.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from directory.choices import ResourceType
from directory.models import Device, DirectoryEvent, User
from executions.choices import ExecutionStatus, StepStatus, TriggerKind
from executions.models import Execution, StepRun
from workflows.models import Workflow

__all__ = [
    "PAGE_SIZE",
    "HistoryFilters",
    "HistoryPage",
    "Touched",
    "caused_events",
    "cursor_for",
    "execution_for_page",
    "find_touched",
    "history_page",
    "history_queryset",
    "history_rows",
    "older_page_query",
    "steps_of",
    "touched_by",
    "trigger_text",
    "with_step_counts",
    "workflows_for_filter",
]

PAGE_SIZE = 50
_FINISHED_STEPS = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED)


@dataclass(frozen=True)
class Touched:
    """A directory object an execution touched: its resource type and id, as the event log names it."""

    resource_type: str
    resource_id: str
    label: str


def _touched(text: str) -> Touched | None:
    """The user (username or email) or device (hostname) named ``text``, or None."""
    user = User.objects.filter(Q(username__iexact=text) | Q(email__iexact=text)).only("pk", "username").first()
    if user is not None:
        return Touched(ResourceType.USER, str(user.pk), f"user {user.username}")
    device = Device.objects.filter(hostname__iexact=text).only("pk", "hostname").first()
    if device is not None:
        return Touched(ResourceType.DEVICE, str(device.pk), f"device {device.hostname}")
    return None


def _day(value: str) -> date | None:
    try:
        return parse_date(value) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class HistoryFilters:
    """What the history is narrowed to; built from a query string, invalid values reported per field."""

    workflow: int | None = None
    status: str = ""
    trigger: str = ""
    since: date | None = None
    until: date | None = None
    touched_text: str = ""
    touched: Touched | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_query(cls, params: Any) -> HistoryFilters:
        errors: dict[str, str] = {}
        workflow_raw = (params.get("workflow") or "").strip()
        workflow = int(workflow_raw) if workflow_raw.isdigit() else None
        if workflow_raw and workflow is None:
            errors["workflow"] = "Choose a workflow from the list."
        status = params.get("status") or ""
        if status and status not in ExecutionStatus.values:
            errors["status"] = "Choose a status from the list."
            status = ""
        trigger = params.get("trigger") or ""
        if trigger and trigger not in TriggerKind.values:
            errors["trigger"] = "Choose a trigger from the list."
            trigger = ""
        since, until = _day(params.get("since") or ""), _day(params.get("until") or "")
        for name, raw, parsed in (("since", params.get("since"), since), ("until", params.get("until"), until)):
            if raw and parsed is None:
                errors[name] = "Enter a date as YYYY-MM-DD."
        if since and until and until < since:
            errors["until"] = "The end is before the start."
        touched_text = (params.get("touched") or "").strip()[:255]
        touched = _touched(touched_text) if touched_text else None
        if touched_text and touched is None:
            errors["touched"] = f"No user (username or email) or device (hostname) is named {touched_text!r}."
        return cls(
            workflow=workflow,
            status=status,
            trigger=trigger,
            since=since,
            until=until,
            touched_text=touched_text,
            touched=touched,
            errors=errors,
        )

    @property
    def active(self) -> bool:
        return bool(self.workflow or self.status or self.trigger or self.since or self.until or self.touched_text)

    def query(self, **extra: Any) -> dict[str, str]:
        """The filters as query parameters (for page links and the CSV export)."""
        params = {
            "workflow": str(self.workflow or ""),
            "status": self.status,
            "trigger": self.trigger,
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "touched": self.touched_text,
            **extra,
        }
        return {k: v for k, v in params.items() if v}


def _bound(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_current_timezone())


def history_queryset(filters: HistoryFilters) -> QuerySet[Execution]:
    """Executions matching ``filters``, unordered, with what a row shows joined in."""
    rows = Execution.objects.select_related("workflow", "version", "started_by", "event").defer(
        "input", "version__definition", "workflow__description", "event__snapshot", "event__changes"
    )
    if filters.errors.get("touched"):
        return rows.none()  # a user or device that does not exist touched nothing
    if filters.workflow:
        rows = rows.filter(workflow_id=filters.workflow)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.trigger:
        rows = rows.filter(trigger_kind=filters.trigger)
    if filters.since:
        rows = rows.filter(queued_at__gte=_bound(filters.since))
    if filters.until:
        rows = rows.filter(queued_at__lt=_bound(filters.until + timedelta(days=1)))
    if filters.touched:
        rows = touched_by(rows, filters.touched)
    return rows


def touched_by(rows: QuerySet[Execution], touched: Touched) -> QuerySet[Execution]:
    """Executions whose steps changed the object (as the resource or the related object of a
    directory event they caused), or that the object's event triggered."""
    kind, pk = touched.resource_type, touched.resource_id
    named = Q(resource_type=kind, resource_id=pk) | Q(related_type=kind, related_id=pk)
    caused = DirectoryEvent.objects.filter(named, caused_by_execution_id__isnull=False)
    triggering = DirectoryEvent.objects.filter(resource_type=kind, resource_id=pk)
    return rows.filter(Q(pk__in=caused.values("caused_by_execution_id")) | Q(event_id__in=triggering.values("pk")))


def find_touched(text: str) -> Touched | None:
    """The user (username or email) or device (hostname) named ``text``, or None."""
    return _touched(text)


def with_step_counts(rows: QuerySet[Execution]) -> QuerySet[Execution]:
    """Each execution with ``steps_done`` (finished records) and ``steps_total`` (all records)."""
    # order_by(): StepRun's default order names the execution, which would join its table again.
    steps = StepRun.objects.filter(execution_id=OuterRef("pk")).order_by().values("execution_id")
    done = steps.filter(status__in=_FINISHED_STEPS).annotate(n=Count("pk")).values("n")
    total = steps.annotate(n=Count("pk")).values("n")
    return rows.annotate(
        steps_done=Coalesce(Subquery(done, output_field=IntegerField()), Value(0)),
        steps_total=Coalesce(Subquery(total, output_field=IntegerField()), Value(0)),
    )


def _encode(execution: Execution) -> str:
    raw = f"{execution.queued_at.isoformat()}|{execution.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int] | None:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, pk = raw.rsplit("|", 1)
        when = parse_datetime(moment)
        return (when, int(pk)) if when is not None else None
    except (ValueError, UnicodeDecodeError):
        return None


def older_page_query(filters: HistoryFilters, *, after: str = "", size: int = PAGE_SIZE) -> QuerySet[Execution]:
    """The query of a page read newest first: the newest ``size + 1`` rows older than ``after``
    (the extra row says whether there is an older page). The history indexes serve it."""
    rows = with_step_counts(history_queryset(filters))
    older_than = _decode(after) if after else None
    if older_than is not None:
        moment, pk = older_than
        rows = rows.filter(queued_at__lte=moment).filter(Q(queued_at__lt=moment) | Q(pk__lt=pk))
    return rows.order_by("-queued_at", "-id")[: size + 1]


def cursor_for(execution: Execution) -> str:
    """The ``after`` cursor that starts a page just past ``execution``."""
    return _encode(execution)


@dataclass
class HistoryPage:
    """One page of the history, newest first, with the cursors of the pages either side."""

    rows: list[Execution]
    older: str | None  # cursor for ``?after=``
    newer: str | None  # cursor for ``?before=``
    first: bool


def history_page(filters: HistoryFilters, *, after: str = "", before: str = "", size: int = PAGE_SIZE) -> HistoryPage:
    """A page of executions: the newest, or those older than ``after``, or newer than ``before``.

    One query: a row more than the page says whether there is another page that way."""
    rows = with_step_counts(history_queryset(filters))
    older_than, newer_than = _decode(after) if after else None, _decode(before) if before else None
    if newer_than is not None:
        moment, pk = newer_than
        page = list(
            rows.filter(queued_at__gte=moment)
            .filter(Q(queued_at__gt=moment) | Q(pk__gt=pk))
            .order_by("queued_at", "id")[: size + 1]
        )
        more_newer = len(page) > size
        page = list(reversed(page[:size]))
        return HistoryPage(
            rows=page,
            older=_encode(page[-1]) if page else None,
            newer=_encode(page[0]) if page and more_newer else None,
            first=not more_newer,
        )
    page = list(older_page_query(filters, after=after, size=size))
    more_older = len(page) > size
    page = page[:size]
    return HistoryPage(
        rows=page,
        older=_encode(page[-1]) if page and more_older else None,
        newer=_encode(page[0]) if page and older_than is not None else None,
        first=older_than is None,
    )


def history_rows(filters: HistoryFilters, *, batch: int = 1000) -> Iterator[Execution]:
    """Every execution matching ``filters``, newest first, read a keyset batch at a time (the CSV)."""
    after = ""
    while True:
        page = history_page(filters, after=after, size=batch)
        yield from page.rows
        if page.older is None:
            return
        after = page.older


def trigger_text(execution: Execution) -> str:
    """How the execution started, in an admin's words."""
    who = execution.started_by.get_username() if execution.started_by_id else ""
    if execution.rerun_of_id:
        return f"Re-run of #{execution.rerun_of_id}" + (f" by {who}" if who else "")
    if execution.trigger_kind == TriggerKind.MANUAL:
        return f"Manual by {who}" if who else "Manual (shell or system)"
    if execution.trigger_kind == TriggerKind.API:
        return f"API by {who}'s token" if who else "API"
    if execution.trigger_kind == TriggerKind.EVENT:
        event = execution.event
        if event is None:
            return "Directory event (no longer in the log)"
        return f"{event.type} · {event.resource_name or event.resource_id}"
    if execution.trigger_kind == TriggerKind.SCHEDULE and execution.slot_at:
        slot = timezone.localtime(execution.slot_at)
        return f"Schedule · slot {slot:%Y-%m-%d %H:%M %Z}"
    return execution.get_trigger_kind_display()


def execution_for_page(pk: int) -> Execution | None:
    """One execution with everything its page shows beside the steps, in one query."""
    return (
        Execution.objects.select_related(
            "workflow", "version", "started_by", "cancelled_by", "event", "rerun_of", "workflow__current_version"
        )
        .filter(pk=pk)
        .first()
    )


def steps_of(execution: Execution) -> list[StepRun]:
    """Every step record of the execution in run order."""
    return list(StepRun.objects.filter(execution_id=execution.pk).order_by("sequence"))


def caused_events(execution: Execution, limit: int = 200) -> list[DirectoryEvent]:
    """The directory events the execution's steps caused, in the order they happened."""
    return list(
        DirectoryEvent.objects.filter(caused_by_execution_id=execution.pk).order_by("occurred_at", "id")[:limit]
    )


def workflows_for_filter() -> list[Workflow]:
    """Every workflow an execution can belong to, deleted ones too (their history is kept)."""
    return list(Workflow.objects.only("pk", "name", "archived_at").order_by("name", "pk"))
