"""The built-in admin roles and the permissions each one grants.

The roles are JumpCloud's set. They are created by a data migration and their permissions are
re-synchronised after every ``migrate`` (permissions only exist once every app has migrated,
and a change to this table must reach existing installs). Built-in roles are therefore
read-only: to customise one, create a custom role based on it.

| role | directory | workflows and history |
| --- | --- | --- |
| Administrator with Billing | everything, admin roles and admin accounts, billing | manage, run, cancel |
| Administrator | everything but roles, admin accounts and billing | manage, run, cancel |
| Manager | users, groups, devices, policies, commands (incl. state, binding, running); views the rest | view |
| Help Desk | view all; create and edit users, edit group membership (no suspend, no delete) | none |
| Read Only | view all | view |
| Command Runner | view devices and device groups; create, edit and run commands | none |
| Command Runner with User Management | Command Runner + create, edit, activate and suspend users, edit groups | none |
"""

from __future__ import annotations

from dataclasses import dataclass

ADMINISTRATOR_WITH_BILLING = "administrator-with-billing"
ADMINISTRATOR = "administrator"
MANAGER = "manager"
HELP_DESK = "help-desk"
READ_ONLY = "read-only"
COMMAND_RUNNER = "command-runner"
COMMAND_RUNNER_USER_MANAGEMENT = "command-runner-user-management"

# Roles that may create, edit, enable, delete and run workflows and cancel executions.
WORKFLOW_MANAGER_ROLES = (ADMINISTRATOR_WITH_BILLING, ADMINISTRATOR)

_DIRECTORY_MODELS = (
    "user",
    "usergroup",
    "device",
    "devicegroup",
    "policy",
    "command",
    "commandrun",
    "notificationchannel",
    "connection",
    "directoryevent",
    "adminrole",
)


def _crud(app: str, *models: str) -> set[str]:
    return {f"{app}.{verb}_{model}" for model in models for verb in ("add", "change", "delete", "view")}


def _view(app: str, *models: str) -> set[str]:
    return {f"{app}.view_{model}" for model in models}


_VIEW_DIRECTORY = _view("directory", *_DIRECTORY_MODELS)
_MANAGE_DIRECTORY = (
    _crud(
        "directory",
        "user",
        "usergroup",
        "device",
        "devicegroup",
        "policy",
        "command",
        "notificationchannel",
        "connection",
    )
    | {"directory.change_user_state", "directory.bind_policy", "directory.run_command"}
    | _VIEW_DIRECTORY
)
_MANAGE_WORKFLOWS = _crud("workflows", "workflow") | {
    "workflows.run_workflow",
    "workflows.view_workflowversion",
    "executions.view_execution",
    "executions.view_steprun",
    "executions.cancel_execution",
}
# Executions and their steps go together: a history without its steps' records is no history.
_VIEW_WORKFLOWS = {
    "workflows.view_workflow",
    "workflows.view_workflowversion",
    "executions.view_execution",
    "executions.view_steprun",
}
_COMMAND_RUNNER = _view("directory", "device", "devicegroup", "command", "commandrun") | {
    "directory.add_command",
    "directory.change_command",
    "directory.run_command",
}


@dataclass(frozen=True)
class BuiltinRole:
    """A built-in role: its stable key, display name, description and permissions."""

    key: str
    name: str
    description: str
    permissions: frozenset[str]


BUILTIN_ROLES: tuple[BuiltinRole, ...] = (
    BuiltinRole(
        ADMINISTRATOR_WITH_BILLING,
        "Administrator with Billing",
        "Full access, including admin roles, admin accounts and billing.",
        frozenset(
            _MANAGE_DIRECTORY
            | _MANAGE_WORKFLOWS
            | _crud("directory", "adminrole")
            | {"directory.manage_billing"}
            | _crud("auth", "user", "group")
        ),
    ),
    BuiltinRole(
        ADMINISTRATOR,
        "Administrator",
        "Full access to the directory and workflows; cannot manage admin roles, admin accounts or billing.",
        frozenset(_MANAGE_DIRECTORY | _MANAGE_WORKFLOWS | _view("auth", "user", "group")),
    ),
    BuiltinRole(
        MANAGER,
        "Manager",
        "Manages users, groups, devices, policies and commands; views workflows and their history.",
        frozenset(
            _MANAGE_DIRECTORY - _crud("directory", "notificationchannel", "connection")
            | _VIEW_DIRECTORY
            | _VIEW_WORKFLOWS
        ),
    ),
    BuiltinRole(
        HELP_DESK,
        "Help Desk",
        "Views the directory; creates and edits users and group membership. Cannot suspend or delete.",
        frozenset(_VIEW_DIRECTORY | {"directory.add_user", "directory.change_user", "directory.change_usergroup"}),
    ),
    BuiltinRole(
        READ_ONLY,
        "Read Only",
        "Views the directory, workflows and execution history; changes nothing.",
        frozenset(_VIEW_DIRECTORY | _VIEW_WORKFLOWS),
    ),
    BuiltinRole(
        COMMAND_RUNNER,
        "Command Runner",
        "Views devices; creates, edits and runs commands.",
        frozenset(_COMMAND_RUNNER),
    ),
    BuiltinRole(
        COMMAND_RUNNER_USER_MANAGEMENT,
        "Command Runner with User Management",
        "Command Runner, plus creating, editing, activating and suspending users and editing groups.",
        frozenset(
            _COMMAND_RUNNER
            | _view("directory", "user", "usergroup")
            | {
                "directory.add_user",
                "directory.change_user",
                "directory.change_user_state",
                "directory.change_usergroup",
            }
        ),
    ),
)

BUILTIN_BY_KEY = {role.key: role for role in BUILTIN_ROLES}
