"""The action type base class and what an action sees when it runs.

An action type declares its key, label, category, description, a JSON Schema for its params
(the same schema drives the DSL validator, the API catalogue and the builder form), the model
permissions it needs (checked against the run-as role when a workflow is saved), and
``run(ctx, params) -> output``. At run time it checks the permission on the actual object
with ``ctx.require``; nothing else in Keyflow branches on action keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from directory.actors import Actor


class ActionError(Exception):
    """A step failed. ``retryable`` marks failures worth another attempt (timeouts, 5xx, locks)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable


class PermissionDenied(ActionError):
    """The run-as role may not do this to this object; never retried."""


@dataclass
class ActionContext:
    """What a running action may use: who it acts as, and a permission check on objects.

    ``principal`` is the run-as role's service account; ``actor`` attributes the directory
    changes the action makes to the execution (for the event log and the loop guard).
    """

    actor: Actor
    principal: Any
    role_name: str
    execution_id: int | None = None
    workflow_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, perm: str, obj: Any = None, *, verb: str, noun: str = "") -> None:
        """Raise ``PermissionDenied`` unless the run-as role has ``perm`` (on ``obj``, if given).

        Model permissions or an object permission (guardian) on ``obj`` both grant it. Read fresh
        in each transaction: a role change applies from the next one (at most one group-commit
        budget later; see ``workflows.permissions``).
        """
        from workflows.permissions import principal_has_perm

        if principal_has_perm(self.principal, perm, obj):
            return
        what = f" {noun} {obj}" if obj is not None else (f" {noun}" if noun else "")
        raise PermissionDenied(f"run-as role {self.role_name} may not {verb}{what}")


class Action:
    """Base class of every action type. Subclass, set the class attributes, implement ``run``.

    Change the directory through its services and let their exceptions propagate (turning one
    into an ``ActionError`` is fine): inside a step they share the step's savepoint
    (``directory.step_savepoint``), so the step — not the action — is what rolls back."""

    key: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str]
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
    output_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # Model permissions (``app_label.codename``) the run-as role must hold to save a workflow using it.
    permissions: ClassVar[tuple[str, ...]] = ()
    # True for an action whose effects leave the database (a message sent, a device command):
    # the runner commits the steps before it and its own record at once instead of grouping
    # them with neighbouring steps (see executions.runner, "Group commit").
    commits_alone: ClassVar[bool] = False

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The catalogue entry: what the API and the builder show for this action type."""
        return {
            "key": cls.key,
            "label": cls.label,
            "category": cls.category,
            "description": cls.description,
            "params_schema": cls.params_schema,
            "output_schema": cls.output_schema,
            "permissions": list(cls.permissions),
        }
