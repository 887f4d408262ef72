"""What ``make bench-http`` reads from the operating system, and the arithmetic it reports.

Processes are read from ``/proc`` (Linux only): CPU time from ``/proc/<pid>/stat``, memory from
``/proc/<pid>/smaps_rollup``. A server's figure is the sum over the process tree it started — the
web server's master and workers, the worker supervisor and its cluster — so a process that forks
helpers is charged for them. The parsers are pure functions over the files' text, tested without
a running system.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class StatLine:
    """The fields of ``/proc/<pid>/stat`` the harness uses; CPU times in clock ticks."""

    pid: int
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int

    @property
    def cpu_ticks(self) -> int:
        """The process's own CPU time plus that of its children it has waited for: a worker that
        exited and was reaped during the load is still counted, through its parent."""
        return self.utime + self.stime + self.cutime + self.cstime


def parse_stat(text: str) -> StatLine:
    """Parse one ``/proc/<pid>/stat`` line. The command name (field 2) may hold spaces and
    parentheses, so the fields after it are counted from its last ``)``."""
    head, _, tail = text.rpartition(")")
    pid = int(head.split("(", 1)[0])
    fields = tail.split()
    # tail starts at field 3 (state): ppid is field 4, utime..cstime are fields 14..17.
    return StatLine(
        pid=pid,
        ppid=int(fields[1]),
        utime=int(fields[11]),
        stime=int(fields[12]),
        cutime=int(fields[13]),
        cstime=int(fields[14]),
    )


@dataclass(frozen=True)
class Memory:
    """Resident and proportional set sizes in kB (PSS shares pages among the processes using them)."""

    rss_kb: int
    pss_kb: int

    def __add__(self, other: Memory) -> Memory:
        return Memory(self.rss_kb + other.rss_kb, self.pss_kb + other.pss_kb)


def parse_smaps_rollup(text: str) -> Memory:
    """Parse ``/proc/<pid>/smaps_rollup``: its ``Rss:`` and ``Pss:`` lines, in kB."""
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in {"Rss", "Pss"}:
            values[key] = int(rest.split()[0])
    if set(values) != {"Rss", "Pss"}:
        raise ValueError("smaps_rollup without Rss and Pss lines")
    return Memory(values["Rss"], values["Pss"])


def descendants(roots: Iterable[int], parents: dict[int, int]) -> list[int]:
    """The roots that are alive and every process below them, given each live pid's parent."""
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: list[int] = []
    pending = [pid for pid in roots if pid in parents]
    while pending:
        pid = pending.pop()
        if pid in found:
            continue
        found.append(pid)
        pending.extend(children.get(pid, []))
    return sorted(found)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None  # the process exited between the listing and the read


def live_stats() -> dict[int, StatLine]:
    """Every live process's stat line, by pid."""
    stats: dict[int, StatLine] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (text := _read(entry / "stat")) is not None:
            stats[int(entry.name)] = parse_stat(text)
    return stats


def tree(roots: Iterable[int]) -> list[int]:
    """The live processes started by ``roots``, the roots included."""
    stats = live_stats()
    return descendants(roots, {pid: stat.ppid for pid, stat in stats.items()})


def cpu_seconds(roots: Iterable[int]) -> float:
    """CPU seconds (user + system) used so far by the process trees under ``roots``."""
    stats = live_stats()
    pids = descendants(roots, {pid: stat.ppid for pid, stat in stats.items()})
    return sum(stats[pid].cpu_ticks for pid in pids) / CLOCK_TICKS


def memory(roots: Iterable[int]) -> tuple[Memory, int]:
    """Summed RSS/PSS of the process trees under ``roots``, and how many processes they are."""
    total, count = Memory(0, 0), 0
    for pid in tree(roots):
        text = _read(PROC / str(pid) / "smaps_rollup")
        if text is not None:
            total, count = total + parse_smaps_rollup(text), count + 1
    return total, count


# --- arithmetic --------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference``, or None where either is missing, NaN or the reference is 0."""
    if value is None or reference is None or math.isnan(value) or math.isnan(reference) or reference == 0:
        return None
    return value / reference


def spread(values: Sequence[float | None]) -> tuple[float, float] | None:
    """The lowest and highest of the values that were measured (None and NaN left out)."""
    measured = [v for v in values if v is not None and not math.isnan(v)]
    return (min(measured), max(measured)) if measured else None
