"""Keyflow's own settings."""

from __future__ import annotations

from config.env import env_bool, env_float, env_int, env_str

from .base import VAR_DIR
from .database import DATABASES
from .qcluster import Q_CLUSTER

# Fernet key for secrets at rest (channel webhooks, signing keys). When unset, a key is
# derived from SECRET_KEY so the embedded default works; set it explicitly in production so
# rotating SECRET_KEY does not make stored secrets unreadable.
KEYFLOW_SECRETS_KEY = env_str("KEYFLOW_SECRETS_KEY", "")

# Past this depth, events caused by workflow executions trigger no further workflows.
KEYFLOW_MAX_TRIGGER_DEPTH = env_int("KEYFLOW_MAX_TRIGGER_DEPTH", 3)

# Runner limits (each hit is a clear step/execution error, not a hang).
KEYFLOW_MAX_LOOP_ITERATIONS = env_int("KEYFLOW_MAX_LOOP_ITERATIONS", 1000)
KEYFLOW_MAX_STEPS_PER_EXECUTION = env_int("KEYFLOW_MAX_STEPS_PER_EXECUTION", 5000)
# Step outputs are stored in full up to KEYFLOW_MAX_VALUE_BYTES (below; a larger one fails the step: a
# resumed run reads outputs back) and shown as a preview past KEYFLOW_MAX_OUTPUT_BYTES.
KEYFLOW_MAX_OUTPUT_BYTES = env_int("KEYFLOW_MAX_OUTPUT_BYTES", 65536)
KEYFLOW_DEFAULT_STEP_TIMEOUT = env_int("KEYFLOW_DEFAULT_STEP_TIMEOUT", 60)

# An execution whose worker was lost this many times (the sweeper re-queued it) is failed rather than
# run again: something in it kills or hangs its worker.
KEYFLOW_MAX_RECOVERIES = env_int("KEYFLOW_MAX_RECOVERIES", 5)

# Expressions (workflows/bounds.py): CPU seconds one render may use, and the largest value it may build
# (measured as JSON text) — also the largest step output that is stored; past either, the step fails.
KEYFLOW_EXPRESSION_TIMEOUT = env_float("KEYFLOW_EXPRESSION_TIMEOUT", 1.0)
KEYFLOW_MAX_VALUE_BYTES = env_int("KEYFLOW_MAX_VALUE_BYTES", 1024 * 1024)
# One expression's length in characters, and its depth (open brackets plus chained operators, filters
# and lookups): Jinja's parser recurses per level, so both are refused before parsing.
KEYFLOW_MAX_EXPRESSION_LENGTH = env_int("KEYFLOW_MAX_EXPRESSION_LENGTH", 1000)
KEYFLOW_MAX_EXPRESSION_DEPTH = env_int("KEYFLOW_MAX_EXPRESSION_DEPTH", 24)
# Workflow documents (workflows/dsl/limits.py), checked before any validation: size as JSON, nesting of
# objects and lists, tasks in all, and switch/for levels inside each other.
KEYFLOW_MAX_DOCUMENT_BYTES = env_int("KEYFLOW_MAX_DOCUMENT_BYTES", 256 * 1024)
KEYFLOW_MAX_DOCUMENT_DEPTH = env_int("KEYFLOW_MAX_DOCUMENT_DEPTH", 64)
KEYFLOW_MAX_TASKS = env_int("KEYFLOW_MAX_TASKS", 500)
KEYFLOW_MAX_TASK_NESTING = env_int("KEYFLOW_MAX_TASK_NESTING", 8)

# Execution history: finished executions older than this many days are pruned (with their steps) by a
# scheduled task, KEYFLOW_HISTORY_PRUNE_BATCH at a time, each batch its own short transaction.
KEYFLOW_HISTORY_DAYS = env_int("KEYFLOW_HISTORY_DAYS", 90)
KEYFLOW_HISTORY_PRUNE_BATCH = env_int("KEYFLOW_HISTORY_PRUNE_BATCH", 1000)
KEYFLOW_HISTORY_PRUNE_EVERY_MINUTES = env_int("KEYFLOW_HISTORY_PRUNE_EVERY_MINUTES", 60)
if KEYFLOW_HISTORY_DAYS < 1 or KEYFLOW_HISTORY_PRUNE_BATCH < 1 or KEYFLOW_HISTORY_PRUNE_EVERY_MINUTES < 1:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "KEYFLOW_HISTORY_DAYS, KEYFLOW_HISTORY_PRUNE_BATCH and KEYFLOW_HISTORY_PRUNE_EVERY_MINUTES must be at least 1"
    )

# A running execution whose heartbeat is older than this is presumed dead and re-queued.
KEYFLOW_HEARTBEAT_SECONDS = env_int("KEYFLOW_HEARTBEAT_SECONDS", 5)
KEYFLOW_STALE_AFTER_SECONDS = env_int("KEYFLOW_STALE_AFTER_SECONDS", 60)
KEYFLOW_SWEEP_EVERY_MINUTES = env_int("KEYFLOW_SWEEP_EVERY_MINUTES", 1)

# The worker supervisor (``manage.py worker``, executions/supervisor.py) restarts the django-q2 cluster
# when work has waited and nothing progressed for this many seconds (its known hang after a worker is
# killed), sending SIGTERM and, after the grace, SIGKILL to the cluster's whole process group. Workers
# touch the progress file; the default is one per cluster name in the data directory.
KEYFLOW_WORKER_STALL_SECONDS = env_float("KEYFLOW_WORKER_STALL_SECONDS", 60.0)
KEYFLOW_WORKER_STOP_GRACE_SECONDS = env_float("KEYFLOW_WORKER_STOP_GRACE_SECONDS", 10.0)
KEYFLOW_WORKER_PROGRESS_FILE = env_str(
    "KEYFLOW_WORKER_PROGRESS_FILE", str(VAR_DIR / f"worker-progress-{Q_CLUSTER['name']}")
)
if KEYFLOW_WORKER_STALL_SECONDS <= 0 or KEYFLOW_WORKER_STOP_GRACE_SECONDS < 0:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "KEYFLOW_WORKER_STALL_SECONDS must be positive and KEYFLOW_WORKER_STOP_GRACE_SECONDS not negative"
    )

# What a schedule does about slots missed while no worker ran:
#   "latest" (default) runs the most recent missed slot once, "none" skips them, "all" runs each.
KEYFLOW_SCHEDULE_CATCH_UP = env_str("KEYFLOW_SCHEDULE_CATCH_UP", "latest")
# A slot fired this late (seconds) counts as missed rather than merely delayed.
KEYFLOW_SCHEDULE_GRACE_SECONDS = env_int("KEYFLOW_SCHEDULE_GRACE_SECONDS", 300)
if KEYFLOW_SCHEDULE_CATCH_UP not in {"latest", "none", "all"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KEYFLOW_SCHEDULE_CATCH_UP must be one of latest, none, all")

# Match committed events to workflows in the committing process instead of in a worker task
# (tests, and single-process setups that prefer latency over request time).
KEYFLOW_DISPATCH_INLINE = env_bool("KEYFLOW_DISPATCH_INLINE", False)
KEYFLOW_DISPATCH_BATCH = env_int("KEYFLOW_DISPATCH_BATCH", 500)

# Group commit (see executions/commit_group.py): consecutive steps — and the consecutive executions a
# worker drains — share one transaction for up to this many seconds. A worker that dies loses at most
# this much work, which is redone (nothing of it was committed). 0 commits before every step. Actions
# whose effect leaves the database always run with no transaction open.
# Default: 0.1 s on SQLite, whose single write lock makes every commit a hand-over between processes;
# 0.05 s on PostgreSQL, where a group's row locks make other writers of the same rows wait that long
# at most. Two groups that lock the same rows in opposite orders are stopped by PostgreSQL's deadlock
# detector: the losing step (or final status write) is rolled back, the group commits and it runs
# again (executions/runner.py). At 0 every step costs a commit of its own.
_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
KEYFLOW_GROUP_COMMIT_SECONDS = env_float("KEYFLOW_GROUP_COMMIT_SECONDS", 0.1 if _SQLITE else 0.05)
# A worker process freezes what it holds at startup out of the cyclic garbage collector's view and runs
# young-generation passes every this many net allocations (see executions/worker_gc.py); 0 leaves
# Python's collector settings alone.
KEYFLOW_WORKER_GC_THRESHOLD = env_int("KEYFLOW_WORKER_GC_THRESHOLD", 10_000)
# A worker's task, after its own execution, keeps taking queued ones for up to this many seconds.
KEYFLOW_DRAIN_SECONDS = env_float("KEYFLOW_DRAIN_SECONDS", 5.0)
# A woken drain (coalesced wake-ups, below) that emptied the queue waits this long for new executions
# before its task ends (within KEYFLOW_DRAIN_SECONDS): a steady stream of runs then needs no task each.
KEYFLOW_DRAIN_LINGER_SECONDS = env_float("KEYFLOW_DRAIN_LINGER_SECONDS", 1.0)
# Coalesced wake-ups (see executions/wakeups.py): a new execution enqueues a worker task only while
# fewer than KEYFLOW_WAKE_TASKS tasks are queued or draining; tasks drain the queue. Default on
# SQLite (every broker write waits for its single write lock); elsewhere the counter row would
# serialize the transactions that queue executions, and one task per execution costs little.
KEYFLOW_COALESCE_WAKEUPS = env_bool("KEYFLOW_COALESCE_WAKEUPS", _SQLITE)
KEYFLOW_WAKE_TASKS = env_int("KEYFLOW_WAKE_TASKS", Q_CLUSTER["workers"])
# A pending count not lowered for this long is not trusted (a task row lost with its broker).
KEYFLOW_WAKE_STALE_SECONDS = env_float("KEYFLOW_WAKE_STALE_SECONDS", 10.0)

# Mount the bare-Django floor view of `make bench-http` (bench/floor_view.py) at /bench/floor/…: for
# the benchmark's own server only; it writes rows without authentication.
KEYFLOW_BENCH_FLOOR = env_bool("KEYFLOW_BENCH_FLOOR", False)
