"""django-q2's ORM broker, woken when a task is queued on this machine instead of only by its poll.

The ORM broker (the embedded default) finds new tasks by polling: an idle cluster looks every
``Q_POLL`` seconds, so a run queued just after a look waits that long before a worker starts it.
Here the idle wait is ``executions.wake_sockets.wait_for_wakeup``: a process that commits a task
row wakes it, and the cluster looks at once. The poll stays as it was, so a cluster on another
machine, or a lost wake-up, costs no more than before. This is django-q2's documented extension
point (``broker_class``).
"""

from __future__ import annotations

import functools
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ

from config import sql_names
from executions.wake_sockets import wait_for_wakeup


class WakeableORM(ORM):
    """The ORM broker whose idle wait ends early when a task is queued on this machine."""

    def dequeue(self) -> list[tuple[int, object]] | None:
        """Take up to ``Q_BULK`` tasks (each locked by a conditional update, as django-q2's ORM broker
        does); with none, wait up to ``Q_POLL`` seconds or until woken."""
        self.get_connection()  # closes a stale connection outside a transaction, as django-q2's does
        select, lock = _statements()
        # Django-q2's two queries written out: through the ORM the look and the lock cost ~0.8-1.3 ms of the
        # hand-over of every run to a worker, so ~0.2-0.3 ms (SQLite, 2-core VM).
        with connections[Conf.ORM or DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute(select, [self.list_key, _stamp(timezone.now()), Conf.BULK])
            tasks = cursor.fetchall()
            taken = []
            for pk, locked_until, payload in tasks:
                cursor.execute(lock, [_stamp(self.timeout(None)), pk, locked_until])
                if cursor.rowcount == 1:  # else another cluster was faster
                    taken.append((pk, payload))
        if tasks:
            return taken
        self._wait(Conf.POLL)
        return None

    def _wait(self, seconds: float) -> None:
        wait_for_wakeup(seconds)


@functools.cache
def _statements() -> tuple[str, str]:
    """django-q2's ORM broker's look for due tasks and its lock of one (a conditional update)."""
    table = sql_names.table(OrmQ)
    key, lock, payload = (sql_names.column(OrmQ, name) for name in ("key", "lock", "payload"))
    pk = sql_names.column(OrmQ, "id")
    return (
        f"SELECT {pk}, {lock}, {payload} FROM {table} WHERE {key} = %s AND {lock} < %s LIMIT %s",
        f"UPDATE {table} SET {lock} = %s WHERE {pk} = %s AND {lock} = %s",
    )


def _stamp(value: datetime) -> object:
    return sql_names.db_value(OrmQ, "lock", value)
