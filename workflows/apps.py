"""App config for workflows."""

from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    """Workflows, their DSL, expressions, conditions, actions and triggers."""

    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"
