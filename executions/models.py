"""Executions of workflows and the record of each step they ran."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from executions.choices import ExecutionStatus, StepStatus, TriggerKind


class Execution(models.Model):
    """One run of a workflow version.

    Unique per (workflow, event), (workflow, schedule slot) and (workflow, idempotency key), so
    a repeated dispatch, a slot fired twice or a retried API call never runs twice. A worker
    claims a queued execution with a conditional update and keeps ``heartbeat_at`` fresh; the
    sweeper re-queues running executions whose heartbeat went stale.
    """

    # PROTECT: history outlives its workflow. Deleting a workflow archives it; only a purge
    # (``workflows.services.workflow_purge``) removes its executions, explicitly, first.
    # Indexed by ``execution_workflow_history_idx``, which starts with it.
    workflow = models.ForeignKey(
        "workflows.Workflow", on_delete=models.PROTECT, related_name="executions", db_index=False
    )
    version = models.ForeignKey("workflows.WorkflowVersion", on_delete=models.PROTECT, related_name="executions")
    trigger_kind = models.CharField(max_length=16, choices=TriggerKind.choices)
    # Nullable links are indexed only where set (``Meta.indexes``): most runs have no event
    # (manual, API, schedule) or no starting user (events, schedules, API tokens), and a plain
    # index took a NULL entry for each of them on every queued run.
    event = models.ForeignKey(
        "directory.DirectoryEvent",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="executions",
        db_index=False,
    )
    slot_at = models.DateTimeField(null=True, blank=True, help_text="Schedule slot this execution fills")
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    input = models.JSONField(default=dict, blank=True)
    # No index of its own: ``execution_status_heartbeat_idx`` starts with it (and the queue has its
    # partial index), and every claim and finish rewrote a third index entry for nothing.
    status = models.CharField(max_length=16, choices=ExecutionStatus.choices, default=ExecutionStatus.QUEUED)
    error = models.TextField(blank=True)
    depth = models.PositiveIntegerField(default=0, help_text="Trigger depth: 0 unless started by a workflow's change")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    cancel_requested = models.BooleanField(default=False)
    run_count = models.PositiveIntegerField(default=0, help_text="How many times a worker claimed it")
    recovered_count = models.PositiveIntegerField(
        default=0, help_text="How many times the sweeper re-queued it after its worker was lost"
    )
    wake_at = models.DateTimeField(null=True, blank=True, help_text="While waiting: when it resumes at the latest")
    waiting_on = models.ForeignKey(
        "directory.CommandRun",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="waiting_executions",
        db_index=False,
        help_text="While waiting for a device command: the run whose result resumes it",
    )
    # Indexed with the id by ``execution_history_idx``: the history's keyset order.
    queued_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Who stopped it and who ran it again: the history records both.
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    cancelled_at = models.DateTimeField(null=True, blank=True)
    rerun_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reruns",
        db_index=False,
        help_text="The execution this one re-ran with the same input",
    )

    class Meta:
        ordering = ["-queued_at", "-id"]
        permissions = [("cancel_execution", "Can cancel executions")]
        constraints = [
            models.UniqueConstraint(
                fields=["workflow", "event"],
                condition=Q(event__isnull=False),
                name="execution_once_per_event",
            ),
            models.UniqueConstraint(
                fields=["workflow", "slot_at"],
                condition=Q(slot_at__isnull=False),
                name="execution_once_per_slot",
            ),
            models.UniqueConstraint(
                fields=["workflow", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="execution_once_per_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["event"], condition=Q(event__isnull=False), name="execution_event_idx"),
            models.Index(fields=["started_by"], condition=Q(started_by__isnull=False), name="execution_started_by_idx"),
            models.Index(fields=["status", "heartbeat_at"], name="execution_status_heartbeat_idx"),
            # The sweeper wakes waits that are due; a command's result wakes the runs waiting on it.
            models.Index(fields=["wake_at"], condition=Q(status="waiting"), name="execution_waiting_idx"),
            models.Index(fields=["waiting_on"], condition=Q(waiting_on__isnull=False), name="execution_waiting_on_idx"),
            models.Index(fields=["rerun_of"], condition=Q(rerun_of__isnull=False), name="execution_rerun_of_idx"),
            # The history (``executions.selectors.history_page``): newest first by (queued_at, id), as
            # a keyset, overall, per workflow and per status, so page 1,000 costs what page 1 does.
            models.Index(fields=["queued_at", "id"], name="execution_history_idx"),
            models.Index(fields=["workflow", "queued_at", "id"], name="execution_workflow_history_idx"),
            # Finished runs only (the filter by status, and retention's scan), so the queue's own
            # partial index stays the one that takes the next queued execution.
            models.Index(
                fields=["status", "queued_at", "id"],
                condition=Q(status__in=["succeeded", "failed", "cancelled"]),
                name="execution_finished_history_idx",
            ),
            # The queue: workers take the oldest queued execution (``executions.claims.next_queued``).
            # Partial, so it holds only the queued rows however long the history grows; without
            # it every take sorted all queued rows, and draining a backlog was quadratic.
            models.Index(
                fields=["status", "queued_at", "id"],
                condition=Q(status="queued"),
                name="execution_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Execution {self.pk} of {self.workflow_id}"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class StepRun(models.Model):
    """The record of one task run (or skipped) in an execution.

    ``key`` identifies the task instance: its path plus loop indexes, so a resumed execution
    knows which steps already committed and does not run them again.
    """

    # Indexed by ``step_run_key_unique`` (execution, key), which starts with it.
    execution = models.ForeignKey(Execution, on_delete=models.CASCADE, related_name="steps", db_index=False)
    sequence = models.PositiveIntegerField(help_text="Run order within the execution")
    key = models.CharField(max_length=500)
    path = models.CharField(max_length=500)
    name = models.CharField(max_length=200)
    task_type = models.CharField(max_length=16)
    action = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    skip_reason = models.CharField(max_length=32, blank=True)
    input = models.JSONField(null=True, blank=True)
    # In full (bounded by KEYFLOW_MAX_VALUE_BYTES): a resumed run reads it back. Shown as a preview.
    output = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # One entry per failed attempt that was retried: {"attempt", "error", "delay_seconds", "at"}.
    attempt_log = models.JSONField(default=list, blank=True)
    loop_index = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["execution", "sequence"]
        constraints = [models.UniqueConstraint(fields=["execution", "key"], name="step_run_key_unique")]

    def __str__(self) -> str:
        return f"{self.path} ({self.status})"


class QueueWakeup(models.Model):
    """How many worker tasks are queued to drain executions but have not started yet.

    One row. With coalesced wake-ups (``executions.wakeups``) a new execution enqueues a task
    only while fewer than ``KEYFLOW_WAKE_TASKS`` are pending; a task lowers the count when it
    starts and then drains every queued execution, so a burst costs a few tasks, not one each.
    """

    pending = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField()

    class Meta:
        verbose_name = "queue wake-up"

    def __str__(self) -> str:
        return f"{self.pending} wake-up task(s) pending"
