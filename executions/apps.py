"""App config for executions."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

SWEEP_SCHEDULE = "keyflow-sweeper"
PRUNE_SCHEDULE = "keyflow-history-retention"


def _ensure_sweeper(sender: AppConfig, **kwargs: Any) -> None:
    """Keep exactly one django-q2 schedule running the sweeper every few minutes."""
    from django.conf import settings
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=SWEEP_SCHEDULE,
        defaults={
            "func": "executions.tasks.sweep",
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.KEYFLOW_SWEEP_EVERY_MINUTES,
            "repeats": -1,
        },
    )


def _ensure_retention(sender: AppConfig, **kwargs: Any) -> None:
    """Keep exactly one django-q2 schedule pruning history past ``KEYFLOW_HISTORY_DAYS``."""
    from django.conf import settings
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=PRUNE_SCHEDULE,
        defaults={
            "func": "executions.tasks.prune_history",
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.KEYFLOW_HISTORY_PRUNE_EVERY_MINUTES,
            "repeats": -1,
        },
    )


class ExecutionsConfig(AppConfig):
    """Executions, step runs, the runner, worker tasks and the sweeper."""

    name = "executions"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(_ensure_sweeper, sender=self, dispatch_uid="keyflow-sweeper-schedule")
        post_migrate.connect(_ensure_retention, sender=self, dispatch_uid="keyflow-retention-schedule")

        from django_q.signals import post_execute, post_spawn, pre_execute

        from executions.progress import on_task_signal
        from executions.worker_gc import tune_worker_gc

        post_spawn.connect(tune_worker_gc, dispatch_uid="keyflow-worker-gc")
        # The supervisor's progress stamp: a task starting, a result saved. (Not a worker spawned:
        # the sentinel replacing killed workers over and over is no progress.)
        pre_execute.connect(on_task_signal, dispatch_uid="keyflow-progress-pre-execute")
        post_execute.connect(on_task_signal, dispatch_uid="keyflow-progress-post-execute")
