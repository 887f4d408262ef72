"""Action types, one module per area. Importing this package registers them all."""

from workflows.actions import api, commands, groups, http, lookups, notifications, policies, users  # noqa: F401
