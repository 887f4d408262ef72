"""Workers drain the queue: one task runs queued executions back to back in shared group
transactions; what a group that did not commit held is queued again."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ

from directory import services as ds
from executions import claims
from executions.commit_group import CommitGroup
from executions.models import Execution
from executions.tasks import run_execution
from workflows.services import workflow_run

TWO_STEPS = [{"a": {"call": "test.big", "with": {"size": 1}}}, {"b": {"call": "test.big", "with": {"size": 2}}}]


def _statuses(ids: list[int]) -> list[str]:
    by_id = dict(Execution.objects.filter(pk__in=ids).values_list("pk", "status"))
    return [by_id[pk] for pk in ids]


def test_a_task_drains_the_queue_oldest_first_and_the_others_tasks_find_theirs_taken(make_workflow, administrator):
    workflow = make_workflow(TWO_STEPS)
    ids = [workflow_run(workflow=workflow, input={}, actor=administrator).pk for _ in range(5)]

    assert run_execution(ids[2], heartbeat=False, drain=True) == "succeeded"

    assert _statuses(ids) == ["succeeded"] * 5
    for execution in Execution.objects.filter(pk__in=ids):
        assert [s.name for s in execution.steps.order_by("sequence")] == ["a", "b"]
        assert execution.run_count == 1
    started = dict(Execution.objects.filter(pk__in=ids).values_list("pk", "started_at"))
    # Its own execution first, then the rest oldest first.
    assert sorted(ids, key=started.__getitem__) == [ids[2], ids[0], ids[1], ids[3], ids[4]]
    assert run_execution(ids[4], heartbeat=False, drain=True) is None


def test_without_drain_a_task_runs_only_its_own_execution(make_workflow, administrator):
    workflow = make_workflow(TWO_STEPS)
    ids = [workflow_run(workflow=workflow, input={}, actor=administrator).pk for _ in range(3)]
    assert run_execution(ids[1], heartbeat=False) == "succeeded"
    assert _statuses(ids) == ["queued", "succeeded", "queued"]


def test_draining_stops_when_its_time_is_up(make_workflow, administrator, settings):
    settings.KEYFLOW_DRAIN_SECONDS = 0
    workflow = make_workflow(TWO_STEPS)
    ids = [workflow_run(workflow=workflow, input={}, actor=administrator).pk for _ in range(3)]
    assert run_execution(ids[0], heartbeat=False, drain=True) == "succeeded"
    assert _statuses(ids) == ["succeeded", "queued", "queued"]


def test_a_drained_failure_does_not_stop_the_drain(make_workflow, administrator):
    failing = make_workflow([{"x": {"call": "test.boom"}}])
    fine = make_workflow(TWO_STEPS)
    ids = [
        workflow_run(workflow=fine, input={}, actor=administrator).pk,
        workflow_run(workflow=failing, input={}, actor=administrator).pk,
        workflow_run(workflow=fine, input={}, actor=administrator).pk,
    ]
    assert run_execution(ids[0], heartbeat=False, drain=True) == "succeeded"
    assert _statuses(ids) == ["succeeded", "failed", "succeeded"]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_group_queues_its_claims_again(make_workflow, administrator, monkeypatch):
    workflow = make_workflow(TWO_STEPS)
    ids = [workflow_run(workflow=workflow, input={}, actor=administrator).pk for _ in range(2)]
    handed: list[int] = []
    monkeypatch.setattr("executions.queue.enqueue_execution", handed.append)
    group = CommitGroup(budget=10)
    group.open()
    for pk in ids:
        assert claims.take(pk) is not None
        group.claimed.append(pk)
    connection.needs_rollback = True  # as a failed query outside any step's savepoint leaves it
    assert group.commit() is False
    assert _statuses(ids) == ["queued", "queued"]
    assert list(Execution.objects.filter(pk__in=ids).values_list("run_count", flat=True)) == [0, 0]
    assert handed == ids  # handed to workers again


@pytest.mark.django_db(transaction=True)
def test_with_the_orm_broker_the_task_row_commits_and_rolls_back_with_the_execution(
    make_workflow, administrator, settings
):
    if "orm" not in settings.Q_CLUSTER:
        pytest.skip("the Redis broker is told after commit (covered by the API and trigger tests)")
    workflow = make_workflow(TWO_STEPS)
    tasks_before = OrmQ.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        workflow_run(workflow=workflow, input={}, actor=administrator)
        raise RuntimeError("the request failed after starting the run")
    assert (Execution.objects.count(), OrmQ.objects.count()) == (0, tasks_before)
    workflow_run(workflow=workflow, input={}, actor=administrator)
    assert (Execution.objects.count(), OrmQ.objects.count()) == (1, tasks_before + 1)


def test_an_update_writes_only_the_fields_that_changed(administrator):
    ann = ds.user_create(actor=administrator, username="ann", email="ann@x.example")
    with CaptureQueriesContext(connection) as queries:
        ds.user_update(user=ann, actor=administrator, job_title="Engineer")
    (update,) = [q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "directory_user"')]
    assigned = update.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
    assert '"job_title"' in assigned and '"updated_at"' in assigned
    assert '"email"' not in assigned and '"created_at"' not in assigned and '"department"' not in assigned


def test_a_step_locks_the_user_once(make_workflow, administrator, ann):
    workflow = make_workflow([{"t": {"call": "user.update", "with": {"user": "ann", "job_title": "Lead"}}}])
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    with CaptureQueriesContext(connection) as queries:
        assert run_execution(execution.pk, heartbeat=False) == "succeeded"
    # The row is found by its natural key and read whole, locked, in one statement.
    reads = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT") and '"directory_user"' in q["sql"]
    ]
    assert len(reads) == 1 and '"job_title"' in reads[0], reads
    assert reads[0].endswith("FOR UPDATE") == connection.features.has_select_for_update
    ann.refresh_from_db()
    assert ann.job_title == "Lead"


@pytest.mark.skipif(connection.vendor != "sqlite", reason="reads SQLite's query plan")
@pytest.mark.django_db
def test_taking_the_next_queued_execution_walks_the_queue_index_without_sorting():
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN QUERY PLAN " + claims._sql().next_id, ["queued"])
        plan = " ".join(str(row[-1]) for row in cursor.fetchall())
    assert "execution_queue_idx" in plan and "TEMP B-TREE" not in plan, plan


@pytest.mark.django_db(transaction=True)
def test_a_failed_commit_queues_the_groups_claims_again(make_workflow, administrator, monkeypatch):
    from django.db import DatabaseError

    workflow = make_workflow(TWO_STEPS)
    ids = [workflow_run(workflow=workflow, input={}, actor=administrator).pk for _ in range(2)]
    handed: list[int] = []
    monkeypatch.setattr("executions.queue.enqueue_execution", handed.append)
    group = CommitGroup(budget=10)
    group.open()
    for pk in ids:
        assert claims.take(pk) is not None
        group.claimed.append(pk)

    def commit_fails(*args, **kwargs):
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(connection, "commit", commit_fails)
    with pytest.raises(DatabaseError):
        group.commit()
    monkeypatch.undo()
    assert not group.is_open and not connection.in_atomic_block
    assert _statuses(ids) == ["queued", "queued"]
    assert handed == ids  # handed to workers again at once, not after the sweeper's cutoff


@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks taken by another connection: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_a_claim_skips_the_execution_another_worker_holds_and_takes_the_next(make_workflow, administrator):
    from django.db import connections

    workflow = make_workflow(TWO_STEPS)
    ids = [workflow_run(workflow=workflow, input={}, actor=administrator).pk for _ in range(2)]
    other = connections.create_connection("default")
    try:
        other.set_autocommit(False)
        with other.cursor() as cursor:  # another worker's claim of the oldest, not committed yet
            cursor.execute("SELECT id FROM executions_execution WHERE id = %s FOR UPDATE", [ids[0]])
        with transaction.atomic():
            assert claims.take(ids[0]) is None
            taken = claims.take_next()
        assert taken is not None and taken.pk == ids[1]
        assert (taken.status, taken.run_count) == ("running", 1)
    finally:
        other.rollback()
        other.close()
    assert _statuses(ids) == ["queued", "running"]


@pytest.mark.django_db(transaction=True)
def test_a_task_whose_commit_fails_stops_its_heartbeat(make_workflow, administrator, monkeypatch):
    """Otherwise the execution it ran would look alive forever and the sweeper would never re-queue it."""
    import threading

    from django.db import DatabaseError

    workflow = make_workflow(TWO_STEPS)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)
    monkeypatch.setattr("executions.queue.enqueue_execution", lambda pk: None)
    calls = {"n": 0}

    def commit_fails(*args, **kwargs):
        calls["n"] += 1
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(connection, "commit", commit_fails)
    with pytest.raises(DatabaseError):
        run_execution(execution.pk, heartbeat=True)
    monkeypatch.undo()
    assert calls["n"] >= 1
    assert not [t for t in threading.enumerate() if t.name == "keyflow-heartbeat"]


def test_a_claimed_execution_gets_its_version_and_workflow_in_one_query(make_workflow, administrator):
    workflow = make_workflow(TWO_STEPS)
    execution = workflow_run(workflow=workflow, input={}, actor=administrator)

    with CaptureQueriesContext(connection) as queries:
        claims.attach(execution, lambda key, load: load())
        role = execution.workflow.run_as
        names = (role.group.name, role.principal.username)
    assert len(queries) == 1, [q["sql"] for q in queries]
    assert execution.version.pk == workflow.current_version_id and execution.workflow.pk == workflow.pk
    assert all(names)


def test_a_woken_task_does_not_ask_whether_its_execution_is_still_queued(make_workflow, administrator, monkeypatch):
    """It drains whether or not its own execution was taken, so the question would be a wasted read."""
    ids = [workflow_run(workflow=make_workflow(TWO_STEPS), input={}, actor=administrator).pk for _ in range(2)]
    asked = []
    monkeypatch.setattr(claims, "is_queued", lambda pk: asked.append(pk) or True)

    run_execution(ids[0], heartbeat=False, drain=True, woken=True)

    assert asked == [] and _statuses(ids) == ["succeeded"] * 2


def _fields(execution: Execution) -> dict[str, object]:
    return {f.attname: getattr(execution, f.attname) for f in Execution._meta.concrete_fields}


@pytest.mark.django_db
@pytest.mark.parametrize("take", [lambda pk: claims.take(pk), lambda pk: claims.take_next()])
def test_a_claimed_execution_is_read_after_its_claim_as_the_database_holds_it(make_workflow, administrator, take):
    workflow = make_workflow(TWO_STEPS)
    execution = workflow_run(workflow=workflow, input={"n": 1}, actor=administrator)
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        claimed = take(execution.pk)
    assert [q["sql"].split()[0] for q in queries] == ["SELECT", "UPDATE", "SELECT"]
    assert claimed.status == "running" and claimed.run_count == 1 and claimed.started_at is not None
    assert _fields(claimed) == _fields(Execution.objects.get(pk=execution.pk))

    # A resumed run keeps its first start and counts the claim again.
    first_start = claimed.started_at
    Execution.objects.filter(pk=execution.pk).update(status="queued")
    with transaction.atomic():
        again = take(execution.pk)
    assert (again.started_at, again.run_count) == (first_start, 2)
    assert _fields(again) == _fields(Execution.objects.get(pk=execution.pk))
