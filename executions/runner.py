"""The runner: interprets a pinned workflow version for one execution.

Each task kind (``call``, ``switch``, ``for``) has a handler in ``TASK_HANDLERS``. A ``call``
runs its action and writes its StepRun in one transaction, so a crash never leaves a
directory change without its record; a resumed execution finds the StepRuns that committed
(by their ``key``: the task path plus loop indexes) and continues from the first task that
did not. Decisions are recorded too — the branch a switch took, the items a loop iterated —
so a resumed run takes the same route even if the directory changed meanwhile.

Group commit (``executions.commit_group``): consecutive steps share one database transaction
for up to ``KEYFLOW_GROUP_COMMIT_SECONDS`` — and a worker that drains the queue shares it across
the executions it runs back to back, so the claim, the steps and the final status of several
executions can ride in one commit. Each step still runs in its own savepoint, so a step is
all-or-nothing: its directory changes and its StepRun are released (or rolled back) together,
and a resumed execution finds either both or neither. The group is committed before a retry
sleeps (never sleep holding the write lock), around an action whose class sets
``commits_alone`` (its side effects leave the database, so its record must be durable at once),
when the budget is spent, and when the worker's task ends. A cancel made elsewhere waits for the
write lock on SQLite, so it is seen at most one budget later.

Timeouts are deadlines: an action receives ``ctx.deadline`` (HTTP calls use it as their
timeout) and a step that overruns is failed and its transaction rolled back. Python cannot
safely interrupt a thread in the middle of a database write, so a step is never killed
half-way.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from directory.actors import Actor
from directory.rows import new_row
from directory.transaction_memo import memoised, remember
from executions import statements
from executions.choices import ExecutionStatus, SkipReason, StepStatus
from executions.commit_group import CommitGroup
from executions.context import base_scope
from executions.errors import ExecutionCancelled, ExecutionFailed, ExecutionStopped, StepRolledBack, StepTimedOut
from executions.models import Execution, StepRun
from executions.recording import encode_output, redact, to_json_safe
from executions.statements import cancel_key
from workflows.actions.base import ActionContext, ActionError
from workflows.actions.registry import get_action
from workflows.conditions import is_true
from workflows.expressions import ExpressionError, render_value

logger = logging.getLogger("keyflow.runner")

Scope = dict[str, Any]


@dataclass(frozen=True)
class Where:
    """Where a task sits: its DSL path, its unique key (path + loop indexes), its loop index."""

    path: str
    key: str
    loop_index: int | None = None

    def child(self, suffix: str, key_suffix: str | None = None) -> Where:
        return replace(self, path=f"{self.path}{suffix}", key=f"{self.key}{key_suffix or suffix}")


@dataclass(frozen=True)
class RetryPolicy:
    """How a ``call`` retries errors its action marks retryable."""

    max_attempts: int = 1
    backoff: str = "exponential"
    initial_delay: float = 1.0
    max_delay: float = 30.0
    jitter: bool = True

    @classmethod
    def from_task(cls, task: dict[str, Any]) -> RetryPolicy:
        spec = task.get("retry") or {}
        return cls(
            **{k: spec[k] for k in ("max_attempts", "backoff", "initial_delay", "max_delay", "jitter") if k in spec}
        )

    def delay(self, attempt: int, rng: Callable[[], float]) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): capped, optionally jittered (50–100 %)."""
        base = self.initial_delay * (2 ** (attempt - 1) if self.backoff == "exponential" else 1)
        capped = min(base, self.max_delay)
        return capped * (0.5 + rng() / 2) if self.jitter else capped


def _task_kind(task: dict[str, Any]) -> str:
    for kind in TASK_HANDLERS:
        if kind in task:
            return kind
    raise ExecutionFailed(f"task has none of {', '.join(TASK_HANDLERS)}")


class Runner:
    """Runs one claimed execution to its end (or to a cancel, a failure, or a cap)."""

    def __init__(
        self,
        execution: Execution,
        *,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        membership: Callable[[Any, Any], bool] | None = None,
        claim: bool = False,
        group: CommitGroup | None = None,
    ) -> None:
        self.execution = execution
        # ``claim``: the execution is still queued; the runner claims it in its first group
        # transaction (one write transaction fewer per execution). A claim that rolls back with a
        # broken group is noted, so the final status is still written (see ``_finish``).
        self.claim = claim
        self._claim_durable = not claim
        # A worker shares one group across the executions it runs back to back and commits it
        # itself; a runner on its own commits its group when the execution ends.
        self.owns_group = group is None
        self.group = group if group is not None else CommitGroup(settings.KEYFLOW_GROUP_COMMIT_SECONDS)
        self.definition = execution.version.definition
        self.sleep = sleep
        self.rng = rng
        self.membership = membership
        self.scope = base_scope(execution)
        # A first run has nothing recorded yet; only a resumed one needs to read its steps.
        runs_before = execution.run_count - (0 if claim else 1)
        prior_steps = execution.steps.all() if runs_before > 0 else []
        self.done: dict[str, StepRun] = {s.key: s for s in prior_steps}
        self.sequence = max((s.sequence for s in self.done.values()), default=0)
        for step in sorted(self.done.values(), key=lambda s: s.sequence):
            self._remember(step.name, step.status, step.output, step.error)
        role = execution.workflow.run_as
        self.ctx = ActionContext(
            actor=Actor.for_execution(
                execution_id=execution.pk, workflow_name=execution.workflow.name, depth=execution.depth + 1
            ),
            principal=role.principal,
            role_name=role.name,
            execution_id=execution.pk,
            workflow_name=execution.workflow.name,
        )

    # --- the whole execution --------------------------------------------------------------

    def run(self) -> str | None:
        """Interpret the definition and write the final status; returns it.

        Whatever ends the run — success, a stop, a crash, even a ``BaseException`` such as a
        worker being told to exit — the open group is closed first: committed if its steps are
        whole (each failed step already rolled back to its own savepoint), rolled back by Django
        if a query outside any step's savepoint failed. Either way no change is kept without
        its record.
        """
        try:
            if self.claim and not self._claim_in_group():
                return None
            try:
                self.run_block(self.definition.get("do", []), Where("do", "do"), self.scope)
            except ExecutionCancelled as stop:
                return self._finish(ExecutionStatus.CANCELLED, stop.message)
            except ExecutionStopped as stop:
                return self._finish(ExecutionStatus.FAILED, stop.message)
            except Exception as exc:  # a bug must still end the execution, with its reason
                logger.exception("execution %s crashed", self.execution.pk)
                if self.group.broken:  # a broken transaction must not take the final status with it
                    self._commit_group()
                return self._finish(ExecutionStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            return self._finish(ExecutionStatus.SUCCEEDED, "")
        finally:
            if self.owns_group or self.group.broken:
                self._commit_group()

    def _claim_in_group(self) -> bool:
        """Claim the queued execution (``queued → running``) in the open group; False if not ours."""
        self.group.open()
        if statements.claim(self.execution.pk):
            self.group.claimed.append(self.execution.pk)
            remember(cancel_key(self.execution.pk), False)  # the claim required it not cancelled
            return True
        if self.owns_group:
            self._commit_group()  # nothing was written
        return False

    def _finish(self, status: str, error: str) -> str:
        """Write the final status, in the open group if there is one (one commit fewer).

        If the group broke and rolled back with the claim in it, the execution is queued again;
        it is ended all the same (its steps rolled back with it), so a crash is not retried forever.
        """
        if self.group.broken:
            self._commit_group()  # Django rolls a broken group back; the status goes in on its own
        statements.finish(self.execution.pk, status, error, also_queued=not self._claim_durable)
        return status

    # --- group commit ---------------------------------------------------------------------

    def _commit_group(self) -> None:
        """End the open group: commit it (Django rolls it back instead if a query in it failed)."""
        if self.group.is_open:
            self._claim_durable = self.group.commit() or self._claim_durable

    # --- blocks and tasks -----------------------------------------------------------------

    def run_block(self, tasks: list[dict[str, Any]], where: Where, scope: Scope) -> None:
        for index, item in enumerate(tasks):
            ((name, task),) = item.items()
            self.run_task(name, task, where.child(f"[{index}].{name}"), scope)

    def run_task(self, name: str, task: dict[str, Any], where: Where, scope: Scope) -> None:
        kind = _task_kind(task)
        prior = self.done.get(where.key)
        if prior is not None and (kind == "call" or prior.status == StepStatus.SKIPPED):
            return  # committed before a restart: already in scope, never run twice
        if prior is None:
            if self.group.spent():
                self._commit_group()
            self.group.open()
            self._check_cancel(name, kind, task, where)
            if "if" in task and not self._condition(task["if"], scope, f"{where.path}.if"):
                self._record(name, kind, task, where, StepStatus.SKIPPED, skip_reason=SkipReason.GUARD_FALSE)
                return
        TASK_HANDLERS[kind](self, name, task, where, scope, prior)

    def _condition(self, condition: Any, scope: Scope, path: str) -> bool:
        try:
            return is_true(condition, scope, membership=self.membership)
        except ExpressionError as exc:
            raise ExecutionFailed(f"{path}: {exc.message}") from exc

    def _render(self, value: Any, scope: Scope, path: str) -> Any:
        try:
            return render_value(value, scope)
        except ExpressionError as exc:
            raise ExecutionFailed(f"{path}: {exc.message}") from exc

    def _check_cancel(self, name: str, kind: str, task: dict[str, Any], where: Where) -> None:
        # Once per transaction: another process's cancel commits between group transactions (on
        # SQLite the group holds the only write lock), and a cancel inside this one forgets it.
        pk = self.execution.pk
        if memoised(cancel_key(pk), lambda: statements.cancel_requested(pk)):
            self._record(name, kind, task, where, StepStatus.SKIPPED, skip_reason=SkipReason.CANCELLED)
            raise ExecutionCancelled("Cancelled before step " + where.path)

    # --- call -----------------------------------------------------------------------------

    def run_call(self, name: str, task: dict[str, Any], where: Where, scope: Scope, prior: StepRun | None) -> None:
        action = get_action(task["call"])
        if action is None:
            raise ExecutionFailed(f"{where.path}.call: unknown action {task['call']!r}")
        alone = action.commits_alone
        if alone:
            # What ran before is durable before the side effect happens; the step then runs in
            # its own transaction (its ``atomic`` below), committed with its record at once.
            self._commit_group()
        policy = RetryPolicy.from_task(task)
        timeout = float(task.get("timeout") or settings.KEYFLOW_DEFAULT_STEP_TIMEOUT)
        started_at = timezone.now()
        params: Any = None
        attempt = 0
        while True:
            attempt += 1
            self.group.open()  # a step that commits alone runs in a group of its own
            try:
                params = None
                params = render_value(task.get("with", {}), scope)
                ctx = replace(self.ctx, extra={"deadline": time.monotonic() + timeout, "timeout": timeout})
                with self.group.step():
                    begun = time.monotonic()
                    output = action.run(ctx, params)
                    if time.monotonic() - begun > timeout:
                        raise StepTimedOut(f"timed out after {timeout:g}s; its changes were rolled back")
                    self._record(
                        name,
                        "call",
                        task,
                        where,
                        StepStatus.SUCCEEDED,
                        params=params,
                        output=output,
                        attempts=attempt,
                        started_at=started_at,
                    )
                if alone:
                    self._commit_group()
                return
            except ExecutionStopped:
                raise
            except ExpressionError as exc:
                message, retryable = f"{where.path}.with: {exc.message}", False
            except StepRolledBack as exc:
                message, retryable = str(exc), False
            except (ActionError, StepTimedOut, OperationalError) as exc:
                message = getattr(exc, "message", None) or str(exc)
                retryable = not isinstance(exc, ActionError) or exc.retryable
            except Exception as exc:
                logger.exception("step %s of execution %s raised", where.path, self.execution.pk)
                message, retryable = f"internal error: {type(exc).__name__}: {exc}", False
            if retryable and attempt < policy.max_attempts:
                self._commit_group()  # never sleep holding the write lock
                self.sleep(policy.delay(attempt, self.rng))
                continue
            break
        self._record(
            name,
            "call",
            task,
            where,
            StepStatus.FAILED,
            params=params,
            error=message,
            attempts=attempt,
            started_at=started_at,
        )
        if alone:
            self._commit_group()
        if task.get("on_error") == "continue":
            return
        raise ExecutionFailed(f"Step {where.path} failed: {message}")

    # --- switch ---------------------------------------------------------------------------

    def run_switch(self, name: str, task: dict[str, Any], where: Where, scope: Scope, prior: StepRun | None) -> None:
        cases = [next(iter(entry.items())) for entry in task["switch"]]
        if prior is not None:
            chosen = (prior.output or {}).get("case")
        else:
            chosen = None
            for index, (case_name, case) in enumerate(cases):
                if case_name != "default" and self._condition(
                    case.get("when"), scope, f"{where.path}.switch[{index}].{case_name}.when"
                ):
                    chosen = case_name
                    break
            if chosen is None and any(case_name == "default" for case_name, _ in cases):
                chosen = "default"
            with self.group.step():
                self._record(name, "switch", task, where, StepStatus.SUCCEEDED, output={"case": chosen})
                for index, (case_name, case) in enumerate(cases):
                    if case_name != chosen:
                        self._skip_branch(case.get("do", []), where.child(f".switch[{index}].{case_name}.do"))
        for index, (case_name, case) in enumerate(cases):
            if case_name == chosen:
                self.run_block(case.get("do", []), where.child(f".switch[{index}].{case_name}.do"), scope)

    def _skip_branch(self, tasks: list[dict[str, Any]], where: Where) -> None:
        """Record the tasks of a branch not taken as skipped, so history never shows them as run."""
        for index, item in enumerate(tasks):
            ((name, task),) = item.items()
            self._record(
                name,
                _task_kind(task),
                task,
                where.child(f"[{index}].{name}"),
                StepStatus.SKIPPED,
                skip_reason=SkipReason.BRANCH_NOT_TAKEN,
            )

    # --- for ------------------------------------------------------------------------------

    def run_for(self, name: str, task: dict[str, Any], where: Where, scope: Scope, prior: StepRun | None) -> None:
        loop = task["for"]
        if prior is not None:
            items = (prior.output or {}).get("items", [])
        else:
            items = self._render(loop["in"], scope, f"{where.path}.for.in")
            if items is None:
                items = []
            if not isinstance(items, list | tuple):
                raise ExecutionFailed(f"{where.path}.for.in: expected a list, got {type(items).__name__}")
            cap = min(
                int(loop.get("max_iterations") or settings.KEYFLOW_MAX_LOOP_ITERATIONS),
                settings.KEYFLOW_MAX_LOOP_ITERATIONS,
            )
            if len(items) > cap:
                raise ExecutionFailed(f"{where.path}: loop over {len(items)} items exceeds its cap of {cap} iterations")
            items = to_json_safe(list(items))
            self._record(name, "for", task, where, StepStatus.SUCCEEDED, output={"count": len(items), "items": items})
        variable = loop["each"]
        for index, item in enumerate(items):
            body_scope = {
                **scope,
                variable: item,
                "loop": {"index": index, "first": index == 0, "last": index == len(items) - 1},
            }
            body = Where(f"{where.path}.do", f"{where.key}[{index}].do", loop_index=index)
            self.run_block(task.get("do", []), body, body_scope)

    # --- records --------------------------------------------------------------------------

    def _record(
        self,
        name: str,
        kind: str,
        task: dict[str, Any],
        where: Where,
        status: str,
        *,
        params: Any = None,
        output: Any = None,
        error: str = "",
        attempts: int = 0,
        skip_reason: str = "",
        started_at: Any = None,
    ) -> StepRun:
        if len(self.done) >= settings.KEYFLOW_MAX_STEPS_PER_EXECUTION:
            raise ExecutionFailed(
                f"execution exceeded its cap of {settings.KEYFLOW_MAX_STEPS_PER_EXECUTION} steps at {where.path}"
            )
        stored, truncated, text = encode_output(output) if output is not None else (None, False, "")
        now = timezone.now()
        self.sequence += 1
        self.group.open()  # records are written with the group's transaction
        step = new_row(
            StepRun,
            execution_id=self.execution.pk,
            sequence=self.sequence,
            key=where.key,
            path=where.path,
            name=name,
            task_type=kind,
            action=task.get("call", ""),
            status=status,
            skip_reason=skip_reason,
            input=redact(to_json_safe(params)) if params is not None else None,
            output=stored,
            output_truncated=truncated,
            error=error,
            attempts=attempts,
            loop_index=where.loop_index,
            started_at=started_at or now,
            finished_at=now,
        )
        self.group.add(step)
        self.done[where.key] = step
        self._remember(name, status, json.loads(text) if output is not None else None, error)
        return step

    def _remember(self, name: str, status: str, output: Any, error: str) -> None:
        self.scope["steps"][name] = {"status": status, "output": output, "error": error or None}


TASK_HANDLERS: dict[str, Callable[..., None]] = {
    "call": Runner.run_call,
    "switch": Runner.run_switch,
    "for": Runner.run_for,
}
