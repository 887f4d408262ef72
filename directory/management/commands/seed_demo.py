"""``manage.py seed_demo [--once]``: load the demo company (see ``directory.demo``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from directory.demo import SeedReport, demo_present, seed


class Command(BaseCommand):
    help = (
        "Create a demo company: ~60 users in 6 departments, groups, ~40 devices, policies, commands, "
        "notification channels, connections, one admin account per built-in role, and three workflows made from "
        "templates (onboarding, offboarding, suspend inactive users) with a first run queued each. Safe to run again: "
        "only what "
        "is missing is created, and existing admin passwords are never reset."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once",
            action="store_true",
            help="Do nothing if the demo data is already there (what `make run` uses on every start).",
        )

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        if once and demo_present():
            if options["verbosity"] >= 1:
                self.stdout.write("Demo data already loaded; nothing to do.")
            return
        report = seed()
        self._print(report, verbosity=options["verbosity"])

    def _print(self, report: SeedReport, *, verbosity: int) -> None:
        if verbosity < 1:
            return
        if report.total:
            summary = ", ".join(f"{n} {kind}" for kind, n in report.created.items())
            self.stdout.write(self.style.SUCCESS(f"Demo data created: {summary}."))
        else:
            self.stdout.write("Demo data already complete; nothing created.")
        rows = [("username", "role", "password")] + [(u, r, p) for u, r, p, _ in report.admins]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        line = "+-" + "-+-".join("-" * w for w in widths) + "-+"
        self.stdout.write("\nDemo admin accounts (sign in at /admin/):")
        self.stdout.write(line)
        for index, row in enumerate(rows):
            self.stdout.write("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |")
            if index == 0:
                self.stdout.write(line)
        self.stdout.write(line)
