"""Why an execution stopped early."""

from __future__ import annotations


class ExecutionStopped(Exception):
    """Base: the runner stops interpreting the workflow."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ExecutionFailed(ExecutionStopped):
    """A step failed (without ``on_error: continue``), a cap was hit, or an expression broke."""


class ExecutionSuspended(ExecutionStopped):
    """The execution waits (a ``wait`` task, a device command's result); it holds no worker until it wakes."""


class ExecutionCancelled(ExecutionStopped):
    """Someone cancelled the execution; the runner stopped before the next step."""


class StepTimedOut(Exception):
    """A step ran past its timeout; its changes were rolled back."""


class StepRolledBack(Exception):
    """A query in the step failed and the step went on: the database rolled its changes back, so
    it is failed rather than recorded as done (with records and events of changes not made)."""
