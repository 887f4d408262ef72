"""An execution drawn as its workflow's canvas: the pinned version's cards, coloured by what ran.

The cards come from the builder (``workflows.builder.canvas``) so a run looks like the workflow
it ran; each card here carries the step records of its task path (several for a task inside a
loop: one per iteration), never a status for a task that did not run.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from directory.redaction import REDACTED
from executions.choices import ExecutionStatus, SkipReason, StepStatus
from executions.models import Execution, StepRun
from executions.recording import display_output, redact
from workflows.builder.canvas import Card, Lane, TriggerCard, build_lanes, build_trigger, slug

__all__ = ["RunCanvas", "RunCard", "StepView", "build_run_canvas", "json_html", "step_view"]

# A card with several records (a task inside a loop) shows the most telling of their statuses.
_PRECEDENCE = (
    StepStatus.FAILED,
    StepStatus.CANCELLED,
    StepStatus.WAITING,
    StepStatus.RUNNING,
    StepStatus.SUCCEEDED,
    StepStatus.SKIPPED,
)
_ICONS = {
    "queued": "◷",
    "running": "▶",
    "waiting": "‖",  # (U+23F8 is missing from common system fonts)
    "succeeded": "✓",
    "failed": "✕",
    "cancelled": "⊘",
    "skipped": "↷",
    "not_run": "○",
    "pending": "○",
}
FOLD_CHARS = 160


def status_icon(status: str) -> str:
    return _ICONS.get(status, "•")


@dataclass
class StepView:
    """One step record as the page shows it: redacted, previewed, pretty-printed."""

    step: StepRun
    input_html: SafeString | None
    output_html: SafeString | None
    output_truncated: bool
    skip_text: str
    iterations: list[dict[str, Any]] | None = None

    @property
    def status(self) -> str:
        return self.step.status

    @property
    def duration_ms(self) -> int | None:
        if self.step.started_at and self.step.finished_at:
            return int((self.step.finished_at - self.step.started_at).total_seconds() * 1000)
        return None


def step_view(step: StepRun) -> StepView:
    output, truncated = display_output(redact(step.output))
    return StepView(
        step=step,
        input_html=json_html(redact(step.input)) if step.input is not None else None,
        output_html=json_html(output) if step.output is not None else None,
        output_truncated=truncated,
        skip_text=SkipReason(step.skip_reason).label if step.skip_reason in SkipReason.values else step.skip_reason,
    )


@dataclass
class RunCard:
    """A builder card with the step records of its task."""

    card: Card
    runs: list[StepRun]
    status: str
    lanes: list[RunLane] = field(default_factory=list)
    taken_case: str | None = None

    @property
    def dom_id(self) -> str:
        return card_dom_id(self.card.path)

    @property
    def icon(self) -> str:
        return status_icon(self.status)

    @property
    def iterations(self) -> int:
        return sum(1 for run in self.runs if run.loop_index is not None)

    @property
    def skip_text(self) -> str:
        reasons = {run.skip_reason for run in self.runs if run.status == StepStatus.SKIPPED and run.skip_reason}
        return ", ".join(SkipReason(r).label if r in SkipReason.values else r for r in sorted(reasons))

    @property
    def status_text(self) -> str:
        if self.status == "not_run":
            return "Not run"
        if self.status == "pending":
            return "Not run yet"
        text = StepStatus(self.status).label
        if self.status == StepStatus.SKIPPED and self.skip_text:
            text = f"Skipped: {self.skip_text}"
        return text


@dataclass
class RunLane:
    lane: Lane
    cards: list[RunCard]
    taken: bool | None = None  # for a branch of an If / else: whether the run took it


@dataclass
class RunCanvas:
    trigger: TriggerCard
    lane: RunLane
    by_path: dict[str, list[StepRun]]


def _card_status(runs: list[StepRun], finished: bool) -> str:
    if not runs:
        return "not_run" if finished else "pending"
    present = {run.status for run in runs}
    for status in _PRECEDENCE:
        if status in present:
            return str(status)
    return runs[-1].status


def _run_lane(lane: Lane, by_path: dict[str, list[StepRun]], finished: bool) -> RunLane:
    cards = []
    for card in lane.cards:
        runs = by_path.get(card.path, [])
        run_card = RunCard(card=card, runs=runs, status=_card_status(runs, finished))
        if card.kind == "switch":
            chosen = {(run.output or {}).get("case") for run in runs if isinstance(run.output, dict)}
            run_card.taken_case = next(iter(chosen)) if len(chosen) == 1 else None
        for child in card.lanes:
            run_lane = _run_lane(child, by_path, finished)
            if card.kind == "switch" and runs:
                case_name = child.path.rsplit(".", 2)[-2]  # do[0].check.switch[1].<case>.do
                run_lane.taken = case_name in {
                    (run.output or {}).get("case") for run in runs if isinstance(run.output, dict)
                }
            run_card.lanes.append(run_lane)
        cards.append(run_card)
    return RunLane(lane=lane, cards=cards)


def build_run_canvas(execution: Execution, steps: list[StepRun]) -> RunCanvas:
    """The canvas of the version the execution ran, each card with its step records."""
    document = execution.version.definition if execution.version_id else {}
    by_path: dict[str, list[StepRun]] = {}
    for step in steps:
        by_path.setdefault(step.path, []).append(step)
    finished = execution.status in ExecutionStatus.finished()
    return RunCanvas(
        trigger=build_trigger(document),
        lane=_run_lane(build_lanes(document), by_path, finished),
        by_path=by_path,
    )


def card_dom_id(path: str) -> str:
    """The DOM id of a task's card on the run canvas (``RunCard.dom_id``)."""
    return f"run-{'card-trigger' if path == 'trigger' else 'card-' + slug(path)}"


# --- JSON, pretty-printed, long strings folded ---------------------------------------------------


def json_html(value: Any) -> SafeString:
    """``value`` as indented JSON in HTML; strings longer than ``FOLD_CHARS`` fold behind a summary."""
    return mark_safe("".join(_json_parts(value, 0)))  # every piece below is escaped


def _json_parts(value: Any, depth: int) -> list[str]:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, dict):
        if not value:
            return ["{}"]
        parts = ["{\n"]
        for index, (key, item) in enumerate(value.items()):
            parts.append(f'{inner}<span class="json-key">{html.escape(json.dumps(str(key)))}</span>: ')
            parts.extend(_json_parts(item, depth + 1))
            parts.append(",\n" if index < len(value) - 1 else "\n")
        parts.append(pad + "}")
        return parts
    if isinstance(value, list):
        if not value:
            return ["[]"]
        parts = ["[\n"]
        for index, item in enumerate(value):
            parts.append(inner)
            parts.extend(_json_parts(item, depth + 1))
            parts.append(",\n" if index < len(value) - 1 else "\n")
        parts.append(pad + "]")
        return parts
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        if len(value) > FOLD_CHARS:
            return [
                str(
                    format_html(
                        '<details class="json-fold"><summary>{}…" <span class="muted">({} characters)</span>'
                        '</summary><span class="json-string">{}</span></details>',
                        text[: FOLD_CHARS // 2],
                        len(value),
                        text,
                    )
                )
            ]
        css = "json-redacted" if value == REDACTED else "json-string"
        return [str(format_html('<span class="{}">{}</span>', css, text))]
    return [str(format_html('<span class="json-literal">{}</span>', json.dumps(value, default=str)))]
