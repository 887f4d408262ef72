"""Query filters for the execution history."""

from __future__ import annotations

import django_filters as filters

from directory.api.filters import IdFilter
from executions.models import Execution


class ExecutionFilter(filters.FilterSet):
    """Executions by workflow, status, trigger kind and time range (when queued)."""

    workflow = IdFilter(field_name="workflow_id", help_text="Id of the workflow.")
    event = IdFilter(field_name="event_id", help_text="Id of the directory event that triggered it.")
    queued_after = filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    queued_before = filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="lt")
    finished_after = filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="lt")

    class Meta:
        model = Execution
        fields = ("status", "trigger_kind")
