"""Query filters for the execution history."""

from __future__ import annotations

import django_filters as filters
from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from directory.api.filters import IdFilter
from executions.models import Execution
from executions.selectors import find_touched, touched_by


class ExecutionFilter(filters.FilterSet):
    """Executions by workflow, status, trigger kind, time range (when queued) and what they touched."""

    workflow = IdFilter(field_name="workflow_id", help_text="Id of the workflow.")
    event = IdFilter(field_name="event_id", help_text="Id of the directory event that triggered it.")
    queued_after = filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="gte")
    queued_before = filters.IsoDateTimeFilter(field_name="queued_at", lookup_expr="lt")
    finished_after = filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_before = filters.IsoDateTimeFilter(field_name="finished_at", lookup_expr="lt")
    touched = filters.CharFilter(
        method="filter_touched",
        help_text="A user (username or email) or device (hostname) the execution changed or was triggered by.",
    )

    class Meta:
        model = Execution
        fields = ("status", "trigger_kind")

    def filter_touched(self, queryset: QuerySet[Execution], name: str, value: str) -> QuerySet[Execution]:
        touched = find_touched(value.strip())
        if touched is None:
            raise ValidationError({"touched": [f"No user or device is named {value!r}."]})
        return touched_by(queryset, touched)
