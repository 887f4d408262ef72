"""The overview's reads: workflows with their last run, filtered and paged, in a fixed number of queries.

The last run's status and time are subqueries on the execution table (its ``(workflow, …)``
ordering uses the workflow foreign key's index), so a page costs the same however many
workflows and executions there are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.paginator import Page, Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery

from executions.choices import ExecutionStatus
from executions.models import Execution
from workflows.builder.cron import next_runs
from workflows.builder.summaries import trigger_summary
from workflows.choices import WorkflowType
from workflows.models import Workflow, WorkflowDraft

__all__ = ["NEVER", "OverviewFilters", "OverviewRow", "overview_page", "unsaved_new_drafts"]

PAGE_SIZE = 25
NEVER = "never"


@dataclass(frozen=True)
class OverviewFilters:
    q: str = ""
    type: str = ""
    enabled: str = ""  # "", "yes", "no"
    last_status: str = ""  # "", an execution status, or "never"

    @classmethod
    def from_query(cls, params: Any) -> OverviewFilters:
        type_ = params.get("type", "")
        enabled = params.get("enabled", "")
        status = params.get("last_status", "")
        return cls(
            q=params.get("q", "").strip()[:200],
            type=type_ if type_ in WorkflowType.values else "",
            enabled=enabled if enabled in {"yes", "no"} else "",
            last_status=status if status in {*ExecutionStatus.values, NEVER} else "",
        )

    @property
    def active(self) -> bool:
        return bool(self.q or self.type or self.enabled or self.last_status)


@dataclass
class OverviewRow:
    workflow: Workflow
    trigger: str
    last_status: str
    last_run_at: datetime | None
    next_run_at: datetime | None
    has_draft: bool


def _queryset(filters: OverviewFilters) -> QuerySet[Workflow]:
    last = Execution.objects.filter(workflow=OuterRef("pk")).order_by("-queued_at", "-id")
    rows = (
        Workflow.objects.live()
        .select_related("run_as__group", "current_version")
        .annotate(
            last_status=Subquery(last.values("status")[:1]),
            last_run_at=Subquery(last.values("queued_at")[:1]),
        )
    )
    if filters.q:
        rows = rows.filter(Q(name__icontains=filters.q) | Q(description__icontains=filters.q))
    if filters.type:
        rows = rows.filter(type=filters.type)
    if filters.enabled:
        rows = rows.filter(enabled=filters.enabled == "yes")
    if filters.last_status == NEVER:
        rows = rows.filter(last_status__isnull=True)
    elif filters.last_status:
        rows = rows.filter(last_status=filters.last_status)
    return rows.order_by("name")


def overview_page(*, filters: OverviewFilters, page: Any, owner: Any) -> tuple[Page, list[OverviewRow]]:
    """One page of workflows and what each row shows."""
    paginator = Paginator(_queryset(filters), PAGE_SIZE)
    current = paginator.get_page(page)
    workflows = list(current.object_list)
    drafted = set(
        WorkflowDraft.objects.filter(owner=owner, workflow__in=[w.pk for w in workflows]).values_list(
            "workflow_id", flat=True
        )
    )
    rows = []
    for workflow in workflows:
        trigger = workflow.definition.get("trigger") or {}
        upcoming = next_runs(trigger, 1) if workflow.type == WorkflowType.SCHEDULE and workflow.enabled else []
        rows.append(
            OverviewRow(
                workflow=workflow,
                trigger=trigger_summary(trigger),
                last_status=workflow.last_status or "",
                last_run_at=workflow.last_run_at,
                next_run_at=upcoming[0] if upcoming else None,
                has_draft=workflow.pk in drafted,
            )
        )
    return current, rows


def unsaved_new_drafts(owner: Any) -> list[WorkflowDraft]:
    """The admin's drafts of workflows not saved yet (they appear above the list)."""
    return list(WorkflowDraft.objects.filter(owner=owner, workflow__isnull=True).order_by("-updated_at")[:20])
