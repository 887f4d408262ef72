"""The runner: interprets a pinned workflow version for one claimed execution.

Each task kind (``call``, ``switch``, ``for``) has a handler in ``TASK_HANDLERS``. Every task run
(or skipped) leaves a StepRun keyed by its path plus loop indexes, written in the same
transaction as what the step changed, so a resumed execution knows exactly which steps
committed and runs only the others. A switch's chosen branch and a loop's items are recorded
in full when the task starts, so a resumed run takes the same route whatever changed since.

Transactions (see ``executions.commit_group``): a step whose action stays in the database runs
in a savepoint of the group transaction and rolls back alone if it fails. A step whose action
leaves the database (``effect = EXTERNAL``: HTTP, email, device commands) runs with no
transaction open: the group commits first, the action acts, and its record is committed right
after. A worker that dies between the effect and its record repeats the effect when the run
resumes; the action receives the same ``idempotency_key`` then, for receivers that honour one.

Timeouts are deadlines: an action receives ``ctx.deadline`` (HTTP calls use it as their
timeout), and a database step that overruns is failed and rolled back — Python cannot safely
interrupt a thread in the middle of a database write, so a step is never killed half-way.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.utils import timezone

from directory.actors import Actor
from executions import claims
from executions.choices import ExecutionStatus, SkipReason, StepStatus
from executions.commit_group import CommitGroup
from executions.context import base_scope
from executions.errors import (
    ExecutionCancelled,
    ExecutionFailed,
    ExecutionStopped,
    ExecutionSuspended,
    StepRolledBack,
    StepTimedOut,
)
from executions.models import Execution, StepRun
from executions.progress import note_progress
from executions.queue import enqueue_on_commit
from executions.recording import OutputTooLarge, redact, stored_output, to_json_safe
from workflows.actions.base import EXTERNAL, Action, ActionContext, ActionError, Waiting
from workflows.actions.registry import get_action
from workflows.conditions import is_true
from workflows.durations import DurationError, parse_duration, parse_time
from workflows.expressions import ExpressionError, ExpressionTimeout, render_budget, render_value

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


# How often a step the database rolled back to break a deadlock (or a serialization conflict) is run
# again before it fails like any other error. Two workers locking the same rows (users, groups) in
# opposite orders deadlock on PostgreSQL, which rolls back one statement of one of them.
_CONFLICT_RERUNS = 5
_CONFLICT_STATES = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def _lost_a_conflict(exc: OperationalError) -> bool:
    """Did the database roll this statement back to resolve a conflict with another transaction?"""
    cause = exc.__cause__
    return (getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)) in _CONFLICT_STATES


def task_time_budget() -> float:
    """Seconds a worker task may run: django-q2's timeout less a margin for committing and ending."""
    timeout = float(settings.Q_CLUSTER.get("timeout") or 0)
    return max(timeout - max(10.0, timeout * 0.1), 1.0) if timeout else float("inf")


class TaskTimeSpent(ExecutionStopped):
    """Not enough of the worker task's time is left for the next step: continue in a fresh task."""

    def __init__(self) -> None:
        super().__init__("the worker task's time is nearly spent")


class ClaimLost(ExecutionStopped):
    """Another worker claimed this execution (the sweeper thought this one dead): stop, write nothing."""


class Runner:
    """Runs one claimed execution to its end (or to a cancel, a failure, or a cap).

    ``group``: the transaction the claim was made in; a worker shares one across the executions it
    runs back to back and commits it itself. ``lost``: tells whether the heartbeat found that this
    claim was taken over.
    """

    def __init__(
        self,
        execution: Execution,
        *,
        group: CommitGroup | None = None,
        claim_in_group: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        membership: Callable[[Any, Any], bool] | None = None,
        lost: Callable[[], bool] = lambda: False,
        task_deadline: float | None = None,
    ) -> None:
        self.execution = execution
        self.owns_group = group is None
        self.group = group if group is not None else CommitGroup(settings.KEYFLOW_GROUP_COMMIT_SECONDS)
        # The claim rides in the group's open transaction until it commits.
        self._claim_durable = not claim_in_group
        # The group transaction in which the cancel flag was last read (the claim itself required it
        # was not set): no other writer can set it while a SQLite transaction holds the write lock; on
        # PostgreSQL a cancel committed meanwhile is seen by the next group, at most its budget later.
        self._read_in = self.group.generation if claim_in_group else -1
        self.definition = execution.version.definition
        self.sleep = sleep
        self.rng = rng
        self.membership = membership
        self.lost = lost
        # ``time.monotonic()`` by which the worker's task must be done (django-q2 kills it at its
        # timeout): a step that might not finish by then is left to a fresh task instead.
        self.task_deadline = task_deadline
        self.scope = base_scope(execution)
        # A first run has nothing recorded yet; only a resumed one reads its steps.
        prior_steps = execution.steps.all() if execution.run_count > 1 else []
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
        """Interpret the definition and write the final status; returns it (None: claim lost).

        Whatever ends the run — success, a stop, a crash, even a ``BaseException`` such as a
        worker being told to exit — a group this runner owns is closed first: committed if its
        steps are whole (each failed step already rolled back to its own savepoint), rolled back
        if a query outside any step's savepoint failed.
        """
        try:
            if self.execution.recovered_count >= settings.KEYFLOW_MAX_RECOVERIES:
                return self._finish(
                    ExecutionStatus.FAILED,
                    f"Stopped: its worker was lost {self.execution.recovered_count} times before it could finish "
                    f"(KEYFLOW_MAX_RECOVERIES={settings.KEYFLOW_MAX_RECOVERIES})",
                )
            try:
                self.run_block(self.definition.get("do", []), Where("do", "do"), self.scope)
            except ClaimLost:
                logger.warning("execution %s: claimed by another worker; stopping", self.execution.pk)
                return None
            except ExecutionSuspended:
                return ExecutionStatus.WAITING
            except TaskTimeSpent:
                return self._continue_later()
            except ExecutionCancelled as stop:
                return self._finish(ExecutionStatus.CANCELLED, stop.message)
            except ExecutionStopped as stop:
                return self._finish(ExecutionStatus.FAILED, stop.message)
            except Exception as exc:  # a bug must still end the execution, with its reason
                logger.exception("execution %s crashed", self.execution.pk)
                return self._finish(ExecutionStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            return self._finish(ExecutionStatus.SUCCEEDED, "")
        finally:
            if self.owns_group or self.group.broken:
                self._commit_group()

    def _finish(self, status: str, error: str) -> str:
        """Write the final status in the open group if there is one (one commit fewer)."""
        if self.group.broken:
            self._commit_group()  # rolled back: the status goes in on its own
        for rerun in range(_CONFLICT_RERUNS + 1):
            self.group.open()
            try:
                with transaction.atomic():  # a lost conflict rolls back only this write
                    claims.finish(self.execution, status, error, also_queued=not self._claim_durable)
                return status
            except OperationalError as exc:
                if not _lost_a_conflict(exc) or rerun == _CONFLICT_RERUNS:
                    raise
                # The group's row locks (the last step's user) are what the other transaction waits
                # for: commit them, then write the status in a fresh transaction.
                self._commit_group()
        return status

    def _continue_later(self) -> None:
        """Queue the execution again for a fresh task (its steps so far committed) and stop."""
        self.group.open()
        if Execution.objects.filter(
            pk=self.execution.pk, status=ExecutionStatus.RUNNING, run_count=self.execution.run_count
        ).update(status=ExecutionStatus.QUEUED):
            enqueue_on_commit(self.execution.pk)
        self._commit_group()
        logger.info(
            "execution %s: continued in a new task (its worker task's time was nearly spent)", self.execution.pk
        )
        return None

    def _step_timeout(self, task: dict[str, Any]) -> float:
        """The step's timeout, checked against what is left of the worker task's time: a step that
        could outlast the task is left to a fresh one (``TaskTimeSpent``) rather than be killed
        half-way by django-q2 and re-run by the sweeper."""
        timeout = float(task.get("timeout") or settings.KEYFLOW_DEFAULT_STEP_TIMEOUT)
        if self.task_deadline is not None:
            left = self.task_deadline - time.monotonic()
            if timeout > left:
                if left < self.task_budget / 2:
                    raise TaskTimeSpent()
                timeout = left  # even a fresh task has less time than the step asks for
        return timeout

    @property
    def task_budget(self) -> float:
        return task_time_budget()

    def _commit_group(self) -> None:
        if self.group.is_open:
            self._claim_durable = self.group.commit() or self._claim_durable

    def _open_group(self) -> None:
        """Keep the group transaction open, or commit it when its budget is spent and open the next."""
        if self.group.spent():
            self._commit_group()
        self.group.open()

    # --- blocks and tasks -----------------------------------------------------------------

    def run_block(self, tasks: list[dict[str, Any]], where: Where, scope: Scope) -> None:
        for index, item in enumerate(tasks):
            ((name, task),) = item.items()
            self.run_task(name, task, where.child(f"[{index}].{name}"), scope)

    def run_task(self, name: str, task: dict[str, Any], where: Where, scope: Scope) -> None:
        kind = _task_kind(task)
        prior = self.done.get(where.key)
        if (
            prior is not None
            and prior.status != StepStatus.WAITING
            and (kind in _LEAVES or prior.status == StepStatus.SKIPPED)
        ):
            return  # committed before a restart: already in scope, never run twice
        if prior is None:
            self._open_group()
            self._check_stop(name, kind, task, where)
            if "if" in task and not self._condition(task["if"], scope, f"{where.path}.if"):
                self._record(name, kind, task, where, StepStatus.SKIPPED, skip_reason=SkipReason.GUARD_FALSE)
                return
        TASK_HANDLERS[kind](self, name, task, where, scope, prior)

    def _condition(self, condition: Any, scope: Scope, path: str) -> bool:
        try:
            return self._bounded(lambda: is_true(condition, scope, membership=self.membership))
        except ExpressionError as exc:
            raise ExecutionFailed(f"{path}: {exc.message}") from exc

    def _render(self, value: Any, scope: Scope, path: str) -> Any:
        try:
            return self._bounded(lambda: render_value(value, scope))
        except ExpressionError as exc:
            raise ExecutionFailed(f"{path}: {exc.message}") from exc

    def _bounded(self, render: Callable[[], Any]) -> Any:
        """Render within the expression bounds (``workflows.bounds``) without holding the write lock
        for long: inside an open group a render may use only what is left of the group's time; one
        that needs longer commits the group and starts again with no transaction open (expressions
        have no side effects, so rendering twice is safe)."""
        left = self.group.remaining()
        if left > 0:
            try:
                with render_budget(timeout=left):
                    return render()
            except ExpressionTimeout:
                pass
        self._commit_group()
        with render_budget():
            return render()

    def _check_stop(self, name: str, kind: str, task: dict[str, Any], where: Where) -> None:
        """Stop before a step if the claim was lost, or if someone cancelled the execution (read once
        per transaction: another process's cancel commits between them)."""
        if self.lost():
            raise ClaimLost("claimed by another worker")
        if self._read_in == self.group.generation:
            return
        self._read_in = self.group.generation
        if claims.cancel_requested(self.execution.pk):
            self._record(name, kind, task, where, StepStatus.SKIPPED, skip_reason=SkipReason.CANCELLED)
            raise ExecutionCancelled("Cancelled before step " + where.path)

    # --- call -----------------------------------------------------------------------------

    def run_call(self, name: str, task: dict[str, Any], where: Where, scope: Scope, prior: StepRun | None) -> None:
        action = get_action(task["call"])
        if action is None:
            raise ExecutionFailed(f"{where.path}.call: unknown action {task['call']!r}")
        external = action.effect == EXTERNAL
        if prior is not None:  # a step that was waiting for its result
            self._resume_call(action, task, where, prior)
            return
        policy = RetryPolicy.from_task(task)
        timeout = self._step_timeout(task)
        started_at = timezone.now()
        params: Any = None
        attempt = 0
        conflicts = 0  # times the database broke a lock conflict by rolling this step back
        cancelled = False
        retried: list[dict[str, Any]] = []  # the attempts that failed and were retried, for the history
        while True:
            attempt += 1
            try:
                params = None
                params = self._bounded(lambda: render_value(task.get("with", {}), scope))
                ctx = replace(
                    self.ctx,
                    deadline=time.monotonic() + timeout,
                    idempotency_key=f"{self.execution.pk}:{where.key}:{attempt}",
                    extra={"timeout": timeout},
                )
                output = self._act(action, ctx, external, timeout, lambda c, p=params: action.run(c, p))
                if isinstance(output, Waiting):
                    self._record(
                        name,
                        "call",
                        task,
                        where,
                        StepStatus.WAITING,
                        params=params,
                        output=output.state,
                        attempts=attempt,
                        started_at=started_at,
                    )
                    self._suspend(output.until, output.command_run_id)
                self._record(
                    name,
                    "call",
                    task,
                    where,
                    StepStatus.SUCCEEDED,
                    params=params,
                    output=output,
                    attempts=attempt,
                    attempt_log=retried,
                    started_at=started_at,
                )
                if external:
                    self._commit_group()  # the effect happened: its record is durable at once
                return
            except ExecutionStopped:
                raise
            except ExpressionError as exc:
                message, retryable = f"{where.path}.with: {exc.message}", False
            except (StepRolledBack, OutputTooLarge) as exc:
                message, retryable = str(exc), False
            except OperationalError as exc:
                if not external and _lost_a_conflict(exc) and conflicts < _CONFLICT_RERUNS:
                    # Nothing of the step is left (its savepoint rolled back); committing what the group
                    # holds lets the other transaction through, and the step runs again in a fresh one.
                    conflicts += 1
                    attempt -= 1
                    self._commit_group()
                    continue
                message, retryable = str(exc), True
            except (ActionError, StepTimedOut) as exc:
                message = getattr(exc, "message", None) or str(exc)
                retryable = not isinstance(exc, ActionError) or exc.retryable
            except Exception as exc:
                logger.exception("step %s of execution %s raised", where.path, self.execution.pk)
                message, retryable = f"internal error: {type(exc).__name__}: {exc}", False
            if retryable and attempt < policy.max_attempts:
                self._commit_group()  # never sleep holding the write lock
                delay = policy.delay(attempt, self.rng)
                retried.append(
                    {
                        "attempt": attempt,
                        "error": message,
                        "delay_seconds": round(delay, 3),
                        "at": timezone.now().isoformat(),
                    }
                )
                self.sleep(delay)
                if self.lost():
                    raise ClaimLost("claimed by another worker")
                if claims.cancel_requested(self.execution.pk):
                    message, cancelled = f"{message} (cancelled before attempt {attempt + 1})", True
                    break
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
            attempt_log=retried,
            started_at=started_at,
        )
        if external:
            self._commit_group()
        if cancelled:
            raise ExecutionCancelled(f"Cancelled while step {where.path} waited to retry")
        if task.get("on_error") == "continue":
            return
        raise ExecutionFailed(f"Step {where.path} failed: {message}")

    def _act(
        self, action: Action, ctx: ActionContext, external: bool, timeout: float, act: Callable[[ActionContext], Any]
    ) -> Any:
        """Run ``act`` — an action whose effect stays in the database in its own savepoint of the group
        (it rolls back alone if it fails), one whose effect leaves it with no transaction open (the
        group commits first). Returns the output as stored, or ``Waiting``."""
        if external:
            self._commit_group()
            result = act(ctx)
            self.group.open()
            return result if isinstance(result, Waiting) else stored_output(result)
        self.group.open()
        # The run-as role's grants, read once per transaction (``CommitGroup.read_once``).
        ctx = replace(ctx, known_perms=self.group.read_once(("grants", self.execution.workflow.run_as_id), dict))
        with self.group.step():
            begun = time.monotonic()
            result = act(ctx)
            if time.monotonic() - begun > timeout:
                raise StepTimedOut(f"timed out after {timeout:g}s; its changes were rolled back")
            if isinstance(result, Waiting):
                stored_output(result.state)  # sized inside the step, so an oversized one rolls back
                return result
            return stored_output(result)

    def _resume_call(self, action: Action, task: dict[str, Any], where: Where, prior: StepRun) -> None:
        """A step waiting for its result (a device command): ask the action whether it has come."""
        timeout = self._step_timeout(task)
        ctx = replace(
            self.ctx, deadline=time.monotonic() + timeout, idempotency_key=f"{self.execution.pk}:{where.key}:resume"
        )
        self._open_group()
        try:
            result = self._act(
                action, ctx, action.effect == EXTERNAL, timeout, lambda c: action.resume(c, prior.output)
            )
        except ExecutionStopped:
            raise
        except (ActionError, StepTimedOut, StepRolledBack, OutputTooLarge, OperationalError) as exc:
            message = getattr(exc, "message", None) or str(exc)
        except Exception as exc:
            logger.exception("step %s of execution %s raised on resume", where.path, self.execution.pk)
            message = f"internal error: {type(exc).__name__}: {exc}"
        else:
            if isinstance(result, Waiting):
                self._update(prior, StepStatus.WAITING, output=result.state)
                self._suspend(result.until, result.command_run_id)
            self._update(prior, StepStatus.SUCCEEDED, output=result)
            self._flush_if_external(action)
            return
        self._update(prior, StepStatus.FAILED, output=prior.output, error=message)
        self._flush_if_external(action)
        if task.get("on_error") == "continue":
            return
        raise ExecutionFailed(f"Step {where.path} failed: {message}")

    def _flush_if_external(self, action: Action) -> None:
        if action.effect == EXTERNAL:
            self._commit_group()

    # --- wait -----------------------------------------------------------------------------

    def run_wait(self, name: str, task: dict[str, Any], where: Where, scope: Scope, prior: StepRun | None) -> None:
        """Pause until a time, holding no worker; the sweeper wakes the execution when it is due."""
        if prior is None:
            until = self._wake_time(task["wait"], scope, where.path)
            output = {"until": until.isoformat()}
            if until <= timezone.now():
                self._record(name, "wait", task, where, StepStatus.SUCCEEDED, output=output)
                return
            self._record(name, "wait", task, where, StepStatus.WAITING, output=output)
            self._suspend(until)
        until = parse_time((prior.output or {})["until"])
        if until > timezone.now():
            self._suspend(until)  # woken early: wait on
        self._update(prior, StepStatus.SUCCEEDED, output=prior.output)

    def _wake_time(self, wait: dict[str, Any], scope: Scope, path: str) -> Any:
        ((kind, value),) = wait.items()
        value = self._render(value, scope, f"{path}.wait.{kind}")
        try:
            if kind == "for":
                return timezone.now() + parse_duration(value)
            return parse_time(value)
        except DurationError as exc:
            raise ExecutionFailed(f"{path}.wait.{kind}: {exc}") from exc

    def _suspend(self, until: Any, command_run_id: int | None = None) -> None:
        """Put the execution in ``waiting`` with its wake-up time, commit, and stop running it."""
        self.group.open()
        Execution.objects.filter(
            pk=self.execution.pk, status=ExecutionStatus.RUNNING, run_count=self.execution.run_count
        ).update(
            status=ExecutionStatus.WAITING, wake_at=until, waiting_on_id=command_run_id, heartbeat_at=timezone.now()
        )
        self._commit_group()
        raise ExecutionSuspended(f"waiting until {until.isoformat()}")

    # --- switch ---------------------------------------------------------------------------

    def run_switch(self, name: str, task: dict[str, Any], where: Where, scope: Scope, prior: StepRun | None) -> None:
        cases = [next(iter(entry.items())) for entry in task["switch"]]
        if prior is not None:
            chosen = (prior.output or {}).get("case")
            record = prior
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
            record = self._record(name, "switch", task, where, StepStatus.RUNNING, output={"case": chosen})
            for index, (case_name, case) in enumerate(cases):
                if case_name != chosen:
                    self._skip_branch(case.get("do", []), where.child(f".switch[{index}].{case_name}.do"))
        with self._container(record):
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
            record = prior
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
            try:
                record = self._record(
                    name, "for", task, where, StepStatus.RUNNING, output={"count": len(items), "items": items}
                )
            except OutputTooLarge as exc:
                raise ExecutionFailed(f"{where.path}.for.in: the items are too large to run: {exc}") from exc
        variable = loop["each"]
        with self._container(record):
            for index, item in enumerate(items):
                body_scope = {
                    **scope,
                    variable: item,
                    "loop": {"index": index, "first": index == 0, "last": index == len(items) - 1},
                }
                body = Where(f"{where.path}.do", f"{where.key}[{index}].do", loop_index=index)
                self.run_block(task.get("do", []), body, body_scope)

    # --- records --------------------------------------------------------------------------

    def _container(self, record: StepRun) -> _Container:
        return _Container(self, record)

    def _end_container(self, record: StepRun, status: str) -> None:
        """A switch or loop is done: its status follows what happened inside it."""
        now = timezone.now()
        record.status, record.finished_at = status, now
        if record.pk is None and record in self.group.pending:
            return  # still to be written with the group: it goes in with its final status
        self._open_group()
        StepRun.objects.filter(execution_id=self.execution.pk, key=record.key).update(status=status, finished_at=now)

    def _update(self, record: StepRun, status: str, *, output: Any = None, error: str = "") -> None:
        """Change a step record already written (a waiting step that resumed)."""
        now = timezone.now()
        record.status, record.output, record.error, record.finished_at = status, output, error, now
        finished = None if status == StepStatus.WAITING else now
        self._open_group()
        StepRun.objects.filter(execution_id=self.execution.pk, key=record.key).update(
            status=status, output=output, error=error, finished_at=finished
        )
        self._remember(record.name, status, output, error)

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
        attempt_log: list[dict[str, Any]] | None = None,
    ) -> StepRun:
        if len(self.done) >= settings.KEYFLOW_MAX_STEPS_PER_EXECUTION:
            raise ExecutionFailed(
                f"execution exceeded its cap of {settings.KEYFLOW_MAX_STEPS_PER_EXECUTION} steps at {where.path}"
            )
        if output is not None and kind != "call":
            output = stored_output(output)  # a call's output was stored (and sized) inside its step
        now = timezone.now()
        self.sequence += 1
        step = StepRun(
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
            output=output,
            error=error,
            attempts=attempts,
            attempt_log=attempt_log or [],
            loop_index=where.loop_index,
            started_at=started_at or now,
            finished_at=None if status in (StepStatus.RUNNING, StepStatus.WAITING) else now,
        )
        self.group.open()  # records are written with the group's transaction
        self.group.add(step)
        note_progress()  # for the worker supervisor: work moves
        self.done[where.key] = step
        self._remember(name, status, output, error)
        return step

    def _remember(self, name: str, status: str, output: Any, error: str) -> None:
        self.scope["steps"][name] = {"status": status, "output": output, "error": error or None}


class _Container:
    """Ends a switch's or loop's record with the status of what ran inside it."""

    def __init__(self, runner: Runner, record: StepRun) -> None:
        self.runner, self.record = runner, record

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.runner._end_container(self.record, StepStatus.SUCCEEDED)
        elif issubclass(exc_type, ExecutionCancelled):
            self.runner._end_container(self.record, StepStatus.CANCELLED)
        elif issubclass(exc_type, ExecutionFailed):
            self.runner._end_container(self.record, StepStatus.FAILED)
        # Anything else (a lost claim, a worker told to exit): leave it running, to resume.


TASK_HANDLERS: dict[str, Callable[..., None]] = {
    "call": Runner.run_call,
    "switch": Runner.run_switch,
    "for": Runner.run_for,
    "wait": Runner.run_wait,
}
# Tasks with no tasks inside: once recorded (and not waiting), they are done.
_LEAVES = frozenset({"call", "wait"})
