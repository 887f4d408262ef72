"""``manage.py worker``: the django-q2 cluster under Keyflow's supervisor (``executions.supervisor``)."""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from executions.supervisor import supervisor_from_settings


class Command(BaseCommand):
    help = (
        "Run the task cluster (qcluster) as a child and restart it when it stalls with work waiting "
        "or exits; SIGTERM, SIGINT and SIGHUP stop it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stall-seconds",
            type=float,
            help="Restart after this long without progress while work waits (KEYFLOW_WORKER_STALL_SECONDS)",
        )
        parser.add_argument(
            "--grace-seconds",
            type=float,
            help="Seconds between SIGTERM and SIGKILL when stopping the cluster (KEYFLOW_WORKER_STOP_GRACE_SECONDS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["stall_seconds"] is not None and options["stall_seconds"] <= 0:
            raise CommandError("--stall-seconds must be positive")
        if options["grace_seconds"] is not None and options["grace_seconds"] < 0:
            raise CommandError("--grace-seconds must not be negative")
        supervisor = supervisor_from_settings(
            stall_seconds=options["stall_seconds"], grace_seconds=options["grace_seconds"]
        )
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, supervisor.handle_signal)
        supervisor.run()
