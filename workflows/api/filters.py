"""Query filters for workflow lists."""

from __future__ import annotations

import django_filters as filters

from directory.api.filters import IdFilter
from workflows.models import Workflow


class WorkflowFilter(filters.FilterSet):
    """Workflows by type, enabled, run-as role, trigger event; ``name`` matches part of the name."""

    name = filters.CharFilter(lookup_expr="icontains")
    run_as = IdFilter(field_name="run_as_id", help_text="Id of the run-as role.")
    trigger_event = filters.CharFilter(help_text="Event type of event workflows, e.g. user.created.")

    class Meta:
        model = Workflow
        fields = ("type", "enabled", "name", "trigger_event")
