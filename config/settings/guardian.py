"""django-guardian: object permissions for admin roles and run-as principals."""

from __future__ import annotations

ANONYMOUS_USER_NAME = None  # no anonymous user row; anonymous callers have no permissions
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False
GUARDIAN_MONKEY_PATCH_USER = False
