"""The phases of ``make bench-http``, the same for Keyflow, the floor and a peer.

A phase offers a load, then waits for the server's own record that the work finished (a
``Finished`` callable reading its database) and turns both into figures named ``<side>_<figure>``.
Rows of finished work are ``(id, finished_at as a Unix time, succeeded?)``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import load, measure
from bench.load import RequestFactory, Response

FinishedRow = tuple[int, float, bool]
# Given the load's successful responses: block until their work is finished, return its rows.
Finished = Callable[[list[Response]], list[FinishedRow]]


def poll(read: Callable[[], int], expected: int, *, what: str, timeout: float = 600.0, every: float = 0.05) -> None:
    """Call ``read`` (how many are finished) until it reaches ``expected``."""
    deadline = time.monotonic() + timeout
    while (done := read()) < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {done} of {expected} {what} finished within {timeout:.0f} s")
        time.sleep(every)


def closed(
    name: str,
    make: RequestFactory,
    n: int,
    concurrency: int,
    roots: list[int],
    finished: Finished,
    parts: dict[str, list[int]] | None = None,
) -> dict[str, float]:
    """N requests, ``concurrency`` in flight: rates from the first request sent to the last work
    finished, and the server trees' CPU over that span per execution (also per part of the
    server named in ``parts``, e.g. web and worker)."""
    parts = parts or {}
    cpu_before, client_before = measure.cpu_seconds(roots), time.process_time()
    parts_before = {part: measure.cpu_seconds(pids) for part, pids in parts.items()}
    result = load.closed_loop(make, n, concurrency)
    client = time.process_time() - client_before
    rows = finished(result.ok)
    cpu = measure.cpu_seconds(roots) - cpu_before
    parts_cpu = {part: measure.cpu_seconds(pids) - parts_before[part] for part, pids in parts.items()}
    if result.failed:
        sample = result.failed[0]
        print(f"  {name}: {len(result.failed)} requests failed, e.g. {sample.status} {sample.body[:300]!r}")
    if not rows:
        raise RuntimeError(f"{name}: no request of {n} started any work")
    last = max(f for _, f, _ in rows)
    return {
        **{f"{name}_{part}_cpu_ms": seconds / len(rows) * 1000 for part, seconds in parts_cpu.items()},
        f"{name}_rate": len(rows) / (last - result.started_at),
        f"{name}_responses_per_s": len(result.ok) / (result.finished_at - result.started_at),
        f"{name}_response_p50_ms": measure.percentile([r.seconds for r in result.responses], 0.5) * 1000,
        f"{name}_drain_ms": max(0.0, last - result.finished_at) * 1000,
        f"{name}_cpu_ms": cpu / len(rows) * 1000,
        f"{name}_client_cpu_ms": client / len(result.responses) * 1000,
        f"{name}_executions": len(rows),
        f"{name}_failed_requests": len(result.failed),
        f"{name}_failed_executions": sum(1 for *_, ok in rows if not ok),
    }


def paced(
    name: str, make: RequestFactory, n: int, rate: float, latencies: Callable[[list[Response]], list[float]]
) -> dict[str, float]:
    """Requests at ``rate`` per second; ``latencies`` gives each one's request → finished in ms."""
    result = load.paced(make, n, rate)
    values = latencies(result.ok)
    return {
        f"{name}_paced_p50_ms": measure.percentile(values, 0.5),
        f"{name}_paced_p95_ms": measure.percentile(values, 0.95),
        f"{name}_paced_failed_requests": len(result.failed),
    }


def idle_cpu_pct(name: str, roots: list[int], seconds: float = 5.0) -> dict[str, float]:
    """CPU the trees use while nothing is asked of them, in % of one core."""
    before = measure.cpu_seconds(roots)
    time.sleep(seconds)
    return {f"{name}_idle_cpu_pct": (measure.cpu_seconds(roots) - before) / seconds * 100}


def memory(name: str, roots: list[int], when: str) -> dict[str, float]:
    """Summed RSS and PSS of the trees (MB), and how many processes they are."""
    total, count = measure.memory(roots)
    return {
        f"{name}_rss_{when}_mb": total.rss_kb / 1024,
        f"{name}_pss_{when}_mb": total.pss_kb / 1024,
        f"{name}_procs": count,
    }
