"""Django's model-permission backend, with an admin's permissions read in one statement."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend

from directory import permission_reads


class ModelPermissionBackend(ModelBackend):
    """``ModelBackend`` whose ``get_all_permissions`` reads the user's own and their groups'
    permissions in one statement (``directory.permission_reads``) instead of two built by the ORM.

    Everything else is Django's: authentication, superusers (every permission), inactive and
    anonymous users (none), and the per-object case (none here; guardian's backend answers it).
    As in Django, the answer is cached on the user object, so a request reads it once.
    """

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None or user_obj.is_superuser:
            return super().get_all_permissions(user_obj, obj)
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = permission_reads.user_permissions(user_obj.pk)
        return user_obj._perm_cache
