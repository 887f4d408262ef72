"""The n8n side of ``make bench-http --peer n8n`` (bench/peers/n8n.py), without n8n.

Its figures come from n8n's own database, as Keyflow's come from Keyflow's: the reads and the
pairing of paced requests with executions are checked on a database of the same shape.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.load import Response
from bench.peers import n8n


def test_n8n_timestamps_are_utc_with_or_without_iso_marks() -> None:
    expected = datetime(2026, 12, 7, 5, 40, 1, 123000, tzinfo=UTC).timestamp()
    assert n8n.parse_time("2026-12-07 05:40:01.123") == expected
    assert n8n.parse_time("2026-12-07T05:40:01.123Z") == expected


@pytest.fixture
def database(tmp_path: Path) -> tuple[n8n.Database, sqlite3.Connection]:
    path = tmp_path / "database.sqlite"
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute(
        "CREATE TABLE execution_entity (id INTEGER PRIMARY KEY, status TEXT, startedAt TEXT, stoppedAt TEXT)"
    )
    connection.execute(
        "INSERT INTO execution_entity VALUES (1, 'success', '2026-12-07 05:00:00.000', '2026-12-07 05:00:00.040')"
    )
    return n8n.Database(path), connection


def test_only_executions_after_the_marker_and_stopped_count(database) -> None:
    db, connection = database
    assert db.last_id() == 1
    connection.executemany(
        "INSERT INTO execution_entity VALUES (?, ?, '2026-12-07 05:00:01.000', ?)",
        [(2, "success", "2026-12-07 05:00:01.050"), (3, "running", None), (4, "error", "2026-12-07 05:00:01.500")],
    )
    assert db.count_finished(1) == 2
    rows = db.finished(1)
    assert [(pk, ok) for pk, _, ok in rows] == [(2, True), (4, False)]
    assert rows[0][1] == n8n.parse_time("2026-12-07 05:00:01.050")


def test_paced_requests_pair_with_new_executions_in_order(database) -> None:
    db, connection = database
    latencies = db.latencies()  # the marker is taken now: execution 1 is not among them
    connection.executemany(
        "INSERT INTO execution_entity VALUES (?, 'success', '', ?)",
        [(2, "2026-12-07 05:00:10.040"), (3, "2026-12-07 05:00:10.380")],
    )
    t = n8n.parse_time("2026-12-07 05:00:10.000")
    second, first = Response(1, t + 0.333, 0.04, 200, b""), Response(0, t, 0.04, 200, b"")
    assert [round(ms) for ms in latencies([second, first])] == [40, 47]


def test_executions_that_do_not_pair_with_the_requests_are_an_error_not_a_figure(database) -> None:
    db, connection = database
    latencies = db.latencies()
    connection.executemany(
        "INSERT INTO execution_entity VALUES (?, 'success', '', ?)",
        [(2, "2026-12-07 05:00:10.040"), (3, "2026-12-07 05:00:10.400"), (4, "2026-12-07 05:00:10.500")],
    )
    responses = [Response(0, 0.0, 0.01, 200, b""), Response(1, 0.3, 0.01, 200, b"")]
    with pytest.raises(RuntimeError, match="2 n8n responses but 3 new executions"):
        latencies(responses)


def test_polling_gives_up_with_what_was_missing() -> None:
    with pytest.raises(RuntimeError, match="only 1 of 2 n8n executions finished"):
        n8n.phases.poll(lambda: 1, 2, what="n8n executions", timeout=0.0)


def test_n8n_runs_in_its_own_home_on_loopback_with_nothing_calling_out(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("N8N_PORT", "5678")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///elsewhere")
    env = n8n.environment(tmp_path, 40001, 40002)
    assert env["N8N_USER_FOLDER"] == str(tmp_path)
    assert (env["N8N_PORT"], env["N8N_RUNNERS_BROKER_PORT"]) == ("40001", "40002")
    assert env["N8N_LISTEN_ADDRESS"] == "127.0.0.1"
    assert env["N8N_DIAGNOSTICS_ENABLED"] == "false"
    assert env["DB_TYPE"] == "sqlite"


def test_the_workflow_is_webhook_if_three_sets_respond() -> None:
    (workflow,) = json.loads(n8n.WORKFLOW.read_text())
    types = [node["type"].rsplit(".", 1)[1] for node in workflow["nodes"]]
    assert types == ["webhook", "if", "set", "set", "set", "respondToWebhook"]
    webhook = workflow["nodes"][0]["parameters"]
    assert (webhook["path"], webhook["responseMode"]) == (n8n.WEBHOOK_PATH, "responseNode")
    assert workflow["id"] == n8n.WORKFLOW_ID
