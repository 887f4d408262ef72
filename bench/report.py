"""The table ``make bench-http`` prints: each figure for Keyflow beside the floor (and a peer).

A run's figures are one flat dict (``keyflow_rate``, ``floor_rate``, ``n8n_rate``, …); a row names
the keys it shows. Several runs print as ranges, their ratios taken run by run: the floor is
measured in the same run as Keyflow so that the machine's speed of the moment cancels out, and a
ratio of two ranges would mix moments.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.measure import ratio, spread


@dataclass(frozen=True)
class Row:
    """One figure: its label, the result keys of each side, and how its values read.

    ``rate`` rows are better higher and their ratio to the floor reads as a share (``23 %``);
    the others are costs (time, CPU, memory), whose ratio reads as a multiple (``4.1×``)."""

    label: str
    keyflow: str
    floor: str | None
    peer: str | None = None
    digits: int = 0
    rate: bool = False


ROWS: tuple[Row, ...] = (
    Row("finished runs/s, c=8 (first request → last finished)", "keyflow_rate", "floor_rate", "peer_rate", rate=True),
    Row("responses/s, c=8", "keyflow_responses_per_s", "floor_responses_per_s", "peer_responses_per_s", rate=True),
    Row("response p50, c=8 (ms)", "keyflow_response_p50_ms", "floor_response_p50_ms", "peer_response_p50_ms", 1),
    Row("last response → last finished (ms)", "keyflow_drain_ms", "floor_drain_ms", "peer_drain_ms"),
    Row("server CPU per execution (ms)", "keyflow_cpu_ms", "floor_cpu_ms", "peer_cpu_ms", 2),
    Row("… of which the web processes (ms)", "keyflow_web_cpu_ms", "floor_cpu_ms", None, 2),
    Row("… of which the worker (ms)", "keyflow_worker_cpu_ms", None, None, 2),
    Row("request → finished p50 at 3/s (ms)", "keyflow_paced_p50_ms", "floor_paced_p50_ms", "peer_paced_p50_ms", 1),
    Row("… request → queued p50 (ms)", "keyflow_paced_request_to_queued_p50_ms", None, None, 1),
    Row("… queued → started p50 (ms)", "keyflow_paced_queue_wait_p50_ms", None, None, 1),
    Row("… started → finished p50 (ms)", "keyflow_paced_run_p50_ms", None, None, 1),
    Row("response p50 at 3/s (ms)", "keyflow_paced_response_p50_ms", None, None, 1),
    Row("request → finished p95 at 3/s (ms)", "keyflow_paced_p95_ms", "floor_paced_p95_ms", "peer_paced_p95_ms", 1),
    Row("directory write: executions finished/s (2 per user)", "users_rate", "floor_rate", None, rate=True),
    Row("directory write: users created/s", "users_responses_per_s", "floor_responses_per_s", None, rate=True),
    Row("directory write: server CPU per execution (ms)", "users_cpu_ms", "floor_cpu_ms", None, 2),
    Row("… of which the web processes (ms)", "users_web_cpu_ms", "floor_cpu_ms", None, 2),
    Row("… of which the worker (ms)", "users_worker_cpu_ms", None, None, 2),
    Row("load client CPU per request (ms)", "keyflow_client_cpu_ms", "floor_client_cpu_ms", "peer_client_cpu_ms", 2),
    Row("idle CPU (% of one core)", "keyflow_idle_cpu_pct", "floor_idle_cpu_pct", "peer_idle_cpu_pct", 1),
    Row("processes", "keyflow_procs", "floor_procs", "peer_procs"),
    Row("RSS idle (MB)", "keyflow_rss_idle_mb", "floor_rss_idle_mb", "peer_rss_idle_mb"),
    Row("PSS idle (MB)", "keyflow_pss_idle_mb", "floor_pss_idle_mb", "peer_pss_idle_mb"),
    Row("RSS after the load (MB)", "keyflow_rss_after_mb", "floor_rss_after_mb", "peer_rss_after_mb"),
    Row("PSS after the load (MB)", "keyflow_pss_after_mb", "floor_pss_after_mb", "peer_pss_after_mb"),
)


def _value(result: dict[str, Any], key: str | None) -> float | None:
    value = result.get(key) if key else None
    return float(value) if isinstance(value, int | float) and not math.isnan(value) else None


def format_number(value: float, digits: int) -> str:
    return f"{value:,.{digits}f}"


def format_ratio(value: float, *, share: bool) -> str:
    """A share of the floor as a percentage, anything else as a multiple."""
    return f"{value:.0%}" if share else f"{value:.2f}×"


def _cell(values: Sequence[float | None], render: Callable[[float], str]) -> str:
    bounds = spread(values)
    if bounds is None:
        return "—"
    low, high = bounds
    return render(low) if render(low) == render(high) else f"{render(low)}–{render(high)}"


def table(results: Sequence[dict[str, Any]], *, peer: str | None = None, rows: Sequence[Row] = ROWS) -> str:
    """Markdown table of one run (values) or several (ranges); a peer adds two columns."""
    header = ["figure", "Keyflow", "floor (bare Django)", "Keyflow ÷ floor"]
    if peer:
        header += [peer, f"Keyflow ÷ {peer}"]
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in rows:
        keyflow = [_value(r, row.keyflow) for r in results]
        floor = [_value(r, row.floor) for r in results]
        if all(v is None for v in keyflow):
            continue
        number = partial(format_number, digits=row.digits)
        share = partial(format_ratio, share=row.rate)
        multiple = partial(format_ratio, share=False)
        cells = [row.label, _cell(keyflow, number), _cell(floor, number)]
        cells.append(_cell([ratio(k, f) for k, f in zip(keyflow, floor, strict=True)], share))
        if peer:
            other = [_value(r, row.peer) for r in results]
            cells.append(_cell(other, number))
            cells.append(_cell([ratio(k, o) for k, o in zip(keyflow, other, strict=True)], multiple))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
