"""The action type base class and what an action sees when it runs.

An action type declares its key, label, category, description, a JSON Schema for its params
(the same schema drives the DSL validator, the API catalogue and the builder form), the model
permissions it needs (checked against the run-as role when a workflow is saved), and
``run(ctx, params) -> output``. At run time it checks the permission on the actual object
with ``ctx.require``; nothing else in Keyflow branches on action keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from directory.actors import Actor

# Where an action's effect lands. ``DATABASE``: only in Keyflow's own database, so the step runs in a
# savepoint of the runner's transaction and rolls back with it. ``EXTERNAL``: it leaves the database
# (a message, an HTTP call, a device command), so the runner commits first and runs it with no
# transaction open; it cannot be rolled back, and is recorded right after.
DATABASE = "database"
EXTERNAL = "external"


@dataclass(frozen=True)
class Waiting:
    """Returned by an action whose result comes later (a device command's exit code): the execution
    pauses without holding a worker until ``until`` or until the command run finishes, then the
    runner calls the action's ``resume`` with ``state``."""

    until: datetime
    state: dict[str, Any]
    command_run_id: int | None = None


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
    # Stable across retries after a crash (execution, step key, attempt): receivers that honour
    # an idempotency key see a repeated effect as the same request.
    idempotency_key: str = ""
    # ``time.monotonic()`` by which the step must be done (HTTP calls use it as their timeout).
    deadline: float | None = None
    # Model-permission answers read in the runner's current transaction (see ``principal_has_perm``).
    known_perms: dict[str, bool] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def require(self, perm: str, obj: Any = None, *, verb: str, noun: str = "") -> None:
        """Raise ``PermissionDenied`` unless the run-as role has ``perm`` (on ``obj``, if given).

        Model permissions or an object permission (guardian) on ``obj`` both grant it, read fresh
        in each transaction.
        """
        from workflows.permissions import principal_has_perm

        if principal_has_perm(self.principal, perm, obj, known=self.known_perms):
            return
        what = f" {noun} {obj}" if obj is not None else (f" {noun}" if noun else "")
        raise PermissionDenied(f"run-as role {self.role_name} may not {verb}{what}")


class Action:
    """Base class of every action type. Subclass, set the class attributes, implement ``run``.

    Change the directory through its services and let their exceptions propagate (turning one
    into an ``ActionError`` is fine): the step's savepoint, not the action, is what rolls back."""

    key: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str]
    description: ClassVar[str]
    params_schema: ClassVar[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}
    output_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # Model permissions (``app_label.codename``) the run-as role must hold to save a workflow using it.
    permissions: ClassVar[tuple[str, ...]] = ()
    # ``DATABASE`` or ``EXTERNAL`` (see above). The safe default is external: an action that forgot
    # to say so runs outside any transaction rather than repeating its effect with a lost group.
    effect: ClassVar[str] = EXTERNAL

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any] | Waiting:
        raise NotImplementedError

    def resume(self, ctx: ActionContext, state: dict[str, Any]) -> dict[str, Any] | Waiting:
        """Finish a step that returned ``Waiting``: called when the execution wakes (its time came, or
        the command run it waits on finished). Returns the output, ``Waiting`` again, or raises."""
        raise ActionError(f"{self.key} cannot resume a waiting step")

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
            "effect": cls.effect,
        }
