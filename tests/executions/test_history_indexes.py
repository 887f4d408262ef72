"""The history's queries use the indexes added for them (PostgreSQL plans, read with EXPLAIN).

The test tables are small, where a sequential scan is cheapest, so the planner is told to avoid one
(``enable_seqscan``/``enable_sort`` off for the transaction): the plan then shows whether an index
can serve the query's filter *and* its order, which is what keeps page 1,000 as fast as page 1.
The figures on a loaded table are in ``bench/history.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from executions.choices import TriggerKind
from executions.models import Execution
from executions.selectors import HistoryFilters, cursor_for, older_page_query
from executions.services import history_prune
from tests.services import require_postgres

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(make_workflow) -> Execution:
    """300 finished executions, 1 in 20 of them of a second workflow and 1 in 20 failed (the filters an
    index serves are the selective ones); returns one of the second workflow, mid-history (a cursor)."""
    require_postgres()
    first = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}], name="One")
    second = make_workflow([{"a": {"call": "test.big", "with": {"size": 1}}}], name="Two")
    now = timezone.now()
    rows = [
        Execution(
            workflow=second if n % 20 == 0 else first,
            version=(second if n % 20 == 0 else first).current_version,
            trigger_kind=TriggerKind.API,
            status={10: "failed", 5: "cancelled"}.get(n % 20, "succeeded"),
        )
        for n in range(300)
    ]
    created = Execution.objects.bulk_create(rows)
    for n, execution in enumerate(created):
        Execution.objects.filter(pk=execution.pk).update(queued_at=now - timedelta(minutes=n))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE executions_execution")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_sort = off")
    return Execution.objects.get(pk=created[160].pk)


def _plan(queryset) -> str:
    return queryset.explain()


def _uses(plan: str, index: str) -> bool:
    """The plan walks ``index`` for the executions and sorts nothing (``Sort`` would mean reading every row)."""
    return index in plan and "Sort" not in plan.split("SubPlan")[0]


def test_the_first_page_walks_the_history_index(history):
    plan = _plan(older_page_query(HistoryFilters.from_query({})))
    assert _uses(plan, "execution_history_idx"), plan


def test_a_deep_page_starts_inside_the_index(history):
    plan = _plan(older_page_query(HistoryFilters.from_query({}), after=cursor_for(history)))
    assert _uses(plan, "execution_history_idx"), plan
    assert "Index Cond" in plan and "queued_at <=" in plan, plan  # not a walk from the newest row


def test_one_workflows_history_uses_the_workflow_index(history):
    filters = HistoryFilters.from_query({"workflow": str(history.workflow_id)})
    plan = _plan(older_page_query(filters, after=cursor_for(history)))
    assert _uses(plan, "execution_workflow_history_idx"), plan


def test_a_status_filter_uses_the_finished_history_index(history):
    plan = _plan(older_page_query(HistoryFilters.from_query({"status": "failed"})))
    assert _uses(plan, "execution_finished_history_idx"), plan


def test_the_step_counts_of_a_page_use_the_steps_index(history):
    plan = _plan(older_page_query(HistoryFilters.from_query({})))
    assert "step_run_key_unique" in plan, plan  # each row's counts: an index lookup, not a scan of steps


def test_retention_finds_old_runs_through_the_finished_index(history):
    cutoff = timezone.now() - timedelta(minutes=100)
    old = Execution.objects.filter(queued_at__lt=cutoff, status__in=["succeeded", "failed", "cancelled"])
    plan = _plan(old.order_by("queued_at", "id").values_list("pk", flat=True)[:1000])
    assert "execution_finished_history_idx" in plan or _uses(plan, "execution_history_idx"), plan
    assert history_prune(older_than=cutoff, batch_size=50) == 200
