"""Action types, one module per area. Importing this package registers them all."""

from workflows.actions import api, groups, http, notifications, users  # noqa: F401
