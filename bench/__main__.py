"""Run the benchmark scenarios against a fresh database and print a table.

    python -m bench [--executions 2000] [--bursts 3] [--events 5000] [--only manual|event]

The database is ``BENCH_DATABASE_URL`` (default: a fresh SQLite file under var/, the
embedded default); the broker is the ORM broker unless REDIS_URL is set. Workers are real
``qcluster`` processes, as in production. Page benches run on their own: ``python -m bench.pages``
(the builder) and ``python -m bench.history`` (the execution history, 1,000,000 step records).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _recreate_postgres_database(url: str) -> None:
    """Start from an empty database, as the SQLite run does (the figures depend on table sizes)."""
    from urllib.parse import urlparse

    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=2000, help="manual executions in the throughput run")
    parser.add_argument("--bursts", type=int, default=3, help="manual bursts, each between two floor readings")
    parser.add_argument("--latency-runs", type=int, default=200, help="executions in the paced latency run")
    parser.add_argument("--events", type=int, default=5000, help="users in the bulk-import event run")
    parser.add_argument("--workers", type=int, default=2, help="worker processes in the cluster")
    parser.add_argument("--only", choices=["manual", "event"], help="run one scenario")
    args = parser.parse_args()

    sqlite_path = BASE_DIR / "var" / "bench.sqlite3"
    url = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{sqlite_path}")
    if url.startswith("sqlite"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_path}{suffix}").unlink(missing_ok=True)
    elif url.startswith(("postgres", "postgresql")):
        _recreate_postgres_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("Q_WORKERS", str(args.workers))
    sys.path.insert(0, str(BASE_DIR))

    import django

    django.setup()
    from bench import scenarios

    results = scenarios.run_all(args)
    scenarios.print_table(results)
    out = BASE_DIR / "var" / "bench-results.json"
    out.write_text(json.dumps(results, indent=2, default=str))
    print(f"\n(results also written to {out.relative_to(BASE_DIR)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
