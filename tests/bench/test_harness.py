"""The arithmetic and parsing of ``make bench-http`` (bench/measure.py, bench/report.py).

Pure functions over ``/proc`` text and result dicts: what the table prints must follow from the
figures measured, with each ratio taken within one run. No timing is asserted here; figures come
from running the benchmark.
"""

from __future__ import annotations

import math
import os

import pytest

from bench import measure, report
from bench.http import _parse_args
from bench.measure import Memory, StatLine

# A real stat line's layout, with a command name holding a space and a parenthesis.
STAT = (
    "4242 (gunicorn: w) rk) S 4200 4242 4200 0 -1 4194624 9000 0 0 0 "
    "150 25 7 3 20 0 1 0 12345 123456789 4567 18446744073709551615 0 0 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0"
)

SMAPS = """55d0c0a00000-7ffd0f1fe000 ---p 00000000 00:00 0                          [rollup]
Rss:              101236 kB
Pss:               60104 kB
Pss_Dirty:         41000 kB
Shared_Clean:      50000 kB
Swap:                  0 kB
"""


def test_stat_fields_are_counted_from_the_last_parenthesis() -> None:
    stat = measure.parse_stat(STAT)
    assert stat == StatLine(pid=4242, ppid=4200, utime=150, stime=25, cutime=7, cstime=3)
    assert stat.cpu_ticks == 185


def test_smaps_rollup_gives_rss_and_pss() -> None:
    assert measure.parse_smaps_rollup(SMAPS) == Memory(rss_kb=101236, pss_kb=60104)
    assert Memory(1, 2) + Memory(10, 20) == Memory(11, 22)


def test_smaps_rollup_without_pss_is_an_error() -> None:
    with pytest.raises(ValueError, match="Rss and Pss"):
        measure.parse_smaps_rollup("Rss: 10 kB\n")


def test_descendants_walk_the_whole_tree_and_skip_dead_roots() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 11, 20: 1, 30: 99}
    assert measure.descendants([10], parents) == [10, 11, 12, 13]
    assert measure.descendants([10, 20, 77], parents) == [10, 11, 12, 13, 20]
    assert measure.descendants([77], parents) == []


def test_this_process_is_read_from_proc() -> None:
    pid = os.getpid()
    assert pid in measure.tree([pid])
    total, count = measure.memory([pid])
    assert count >= 1
    assert total.rss_kb >= total.pss_kb > 0
    assert measure.cpu_seconds([pid]) > 0


def test_percentile_is_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert measure.percentile(values, 0.5) == 3.0
    assert measure.percentile(values, 0.95) == 5.0
    assert measure.percentile(values, 0.0) == 1.0
    assert math.isnan(measure.percentile([], 0.5))


def test_ratio_and_spread_leave_out_what_was_not_measured() -> None:
    assert measure.ratio(50.0, 200.0) == 0.25
    assert measure.ratio(1.0, 0.0) is None
    assert measure.ratio(None, 2.0) is None
    assert measure.ratio(math.nan, 2.0) is None
    assert measure.spread([3.0, None, 1.0, math.nan, 2.0]) == (1.0, 3.0)
    assert measure.spread([None]) is None


ROWS = (
    report.Row("runs/s", "keyflow_rate", "floor_rate", "peer_rate", rate=True),
    report.Row("CPU (ms)", "keyflow_cpu_ms", "floor_cpu_ms", "peer_cpu_ms", 2),
    report.Row("not measured", "keyflow_nothing", "floor_nothing"),
)


def test_one_run_prints_values_and_their_ratios() -> None:
    result = {"keyflow_rate": 150.0, "floor_rate": 600.0, "keyflow_cpu_ms": 12.0, "floor_cpu_ms": 1.5}
    lines = report.table([result], rows=ROWS).splitlines()
    assert lines[0] == "| figure | Keyflow | floor (bare Django) | Keyflow ÷ floor |"
    assert lines[2] == "| runs/s | 150 | 600 | 25% |"
    assert lines[3] == "| CPU (ms) | 12.00 | 1.50 | 8.00× |"
    assert len(lines) == 4  # a figure Keyflow lacks is left out


def test_several_runs_print_ranges_with_ratios_taken_run_by_run() -> None:
    runs = [
        {"keyflow_rate": 100.0, "floor_rate": 400.0, "peer_rate": 20.0},
        {"keyflow_rate": 150.0, "floor_rate": 500.0, "peer_rate": 25.0},
    ]
    row = report.table(runs, peer="n8n", rows=ROWS[:1]).splitlines()[2]
    # 100/400 = 25 %, 150/500 = 30 % (not 100/500 nor 150/400); 100/20 = 5×, 150/25 = 6×.
    assert row == "| runs/s | 100–150 | 400–500 | 25%–30% | 20–25 | 5.00×–6.00× |"


def test_a_missing_floor_prints_a_dash() -> None:
    row = report.table([{"keyflow_cpu_ms": 3.0}], rows=ROWS[1:2]).splitlines()[2]
    assert row == "| CPU (ms) | 3.00 | — | — |"


def test_every_row_of_the_report_names_distinct_keys() -> None:
    keys = [row.keyflow for row in report.ROWS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--paced", "1"], ["--rate", "0"], ["--backend", "mysql"]])
def test_arguments_out_of_range_are_refused(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        _parse_args(argv)


def test_default_arguments_are_the_issue_s_load() -> None:
    args = _parse_args([])
    assert (args.requests, args.concurrency, args.rate, args.runs, args.backend) == (1000, 8, 3.0, 1, "sqlite")
