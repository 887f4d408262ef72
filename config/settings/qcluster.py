"""django-q2: the ORM broker by default, the Redis broker when REDIS_URL is set.

``timeout`` stays below ``retry`` as django-q2 requires, or a slow task would be handed to a
second worker while the first still runs it.
"""

from __future__ import annotations

from config.env import env_float, env_int, env_str

REDIS_URL = env_str("REDIS_URL", "")

Q_CLUSTER: dict = {
    "name": env_str("Q_CLUSTER_NAME", "keyflow"),
    "workers": env_int("Q_WORKERS", 2),
    "timeout": env_int("Q_TIMEOUT", 300),
    "retry": env_int("Q_RETRY", 360),
    "max_attempts": 1,
    "catch_up": False,
    # Our execution history is the record; django-q2 keeping successful task rows too is a wasted write.
    "save_limit": env_int("Q_SAVE_LIMIT", -1),
    "ack_failures": True,
    "label": "Task queue",
    "poll": env_float("Q_POLL", 0.05),
    "bulk": env_int("Q_BULK", 1),
    # Each worker restart costs a full Django start-up; recycle rarely (memory is bounded by the
    # per-execution caps, not by leaks we know of).
    "recycle": env_int("Q_RECYCLE", 10000),
}

if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"
    # The ORM broker, woken on this machine when a task is queued instead of waiting for its poll.
    Q_CLUSTER["broker_class"] = "executions.broker.WakeableORM"
