"""Permission checks for run-as principals, through the same backends as people.

Django's ModelBackend and guardian's ObjectPermissionBackend cache permissions on the user
object; a fresh principal instance is loaded for every check so that a role change takes
effect for the very next step.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model


def principal_has_perm(principal: Any, perm: str, obj: Any = None) -> bool:
    """True if the principal holds ``perm`` as a model permission, or on ``obj`` through guardian."""
    fresh = get_user_model().objects.get(pk=principal.pk)
    if fresh.has_perm(perm):
        return True
    return obj is not None and fresh.has_perm(perm, obj)
