"""App config for workflows."""

from typing import Any

from django.apps import AppConfig


def _is_listened(event_type: str) -> bool:
    from workflows.dispatch import is_listened

    return is_listened(event_type)


def _dispatch_committed_events(sender: Any, event_ids: list[int], **kwargs: Any) -> None:
    from workflows.dispatch import on_events_committed

    on_events_committed(sender, event_ids=event_ids, **kwargs)


class WorkflowsConfig(AppConfig):
    """Workflows, their DSL, expressions, conditions, actions and triggers."""

    name = "workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from directory.event_log import events_committed, set_listener_check

        events_committed.connect(_dispatch_committed_events, dispatch_uid="keyflow-dispatch-events")
        set_listener_check(_is_listened)

        from directory.role_dependents import register_role_dependents
        from workflows.role_checks import workflows_running_as

        register_role_dependents(workflows_running_as)

        from directory.demo import register_demo_seeder
        from workflows.templates_library.demo import seed_demo_workflows

        register_demo_seeder(seed_demo_workflows)
