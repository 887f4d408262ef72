"""Choices for executions and step runs."""

from django.db import models


class ExecutionStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    # Paused by a wait or a device command's result, holding no worker; ``wake_at`` says until when.
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"

    @classmethod
    def finished(cls) -> set[str]:
        return {cls.SUCCEEDED, cls.FAILED, cls.CANCELLED}


class TriggerKind(models.TextChoices):
    MANUAL = "manual", "Manual (UI or shell)"
    API = "api", "API"
    EVENT = "event", "Directory event"
    SCHEDULE = "schedule", "Schedule"


class StepStatus(models.TextChoices):
    # A switch or loop whose tasks are still running (its record keeps the route it took).
    RUNNING = "running", "Running"
    # A wait, or an action waiting for a result (a device command), while its execution is paused.
    WAITING = "waiting", "Waiting"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # A switch or loop the execution was cancelled in.
    CANCELLED = "cancelled", "Cancelled"


class SkipReason(models.TextChoices):
    GUARD_FALSE = "guard_false", "Guard (if) was false"
    BRANCH_NOT_TAKEN = "branch_not_taken", "Branch not taken"
    CANCELLED = "cancelled", "Execution cancelled"
