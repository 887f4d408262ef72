"""App config for executions."""

from django.apps import AppConfig


class ExecutionsConfig(AppConfig):
    """Executions, step runs, the runner, worker tasks and the sweeper."""

    name = "executions"
    default_auto_field = "django.db.models.BigAutoField"
