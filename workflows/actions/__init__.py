"""Action types, one module per area. Importing this package registers them all."""

from workflows.actions import commands, groups, lookups, policies, users  # noqa: F401
