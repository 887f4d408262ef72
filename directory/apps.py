"""App config for the directory."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: AppConfig, **kwargs: Any) -> None:
    # Permissions of later apps exist only once their own post_migrate ran; syncing after each
    # app keeps the last pass complete.
    from directory.role_services import roles_sync_builtin

    roles_sync_builtin()


class DirectoryConfig(AppConfig):
    """Connects the event receivers and keeps built-in roles in sync after migrations."""

    name = "directory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from directory import signals

        signals.connect()
        post_migrate.connect(_sync_roles, dispatch_uid="keyflow-sync-roles")
