"""``manage.py run_workflow NAME --input '{...}' [--wait]``: a manual run from a shell."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from executions.choices import ExecutionStatus
from executions.models import Execution
from workflows.models import Workflow
from workflows.services import WorkflowInvalid, workflow_run


class Command(BaseCommand):
    help = "Run a workflow with input JSON; prints the execution id (and, with --wait, its result)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Workflow name")
        parser.add_argument("--input", default="{}", help="Input JSON object")
        parser.add_argument("--wait", action="store_true", help="Wait for the execution to finish")
        parser.add_argument("--timeout", type=float, default=300.0, help="Seconds to wait with --wait")

    def handle(self, *args: Any, **options: Any) -> None:
        workflow = Workflow.objects.live().filter(name=options["name"]).first()
        if workflow is None:
            raise CommandError(f"No workflow named {options['name']!r}")
        try:
            data = json.loads(options["input"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--input is not valid JSON: {exc}") from exc
        try:
            execution = workflow_run(workflow=workflow, input=data, actor=None)
        except WorkflowInvalid as exc:
            raise CommandError(
                "Input refused:\n" + "\n".join(f"  {p.path}: {p.message}" for p in exc.problems)
            ) from exc
        self.stdout.write(f"execution {execution.pk} queued")
        if not options["wait"]:
            return
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            execution.refresh_from_db()
            if execution.status in ExecutionStatus.finished():
                break
            time.sleep(0.2)
        else:
            raise CommandError(f"execution {execution.pk} still {execution.status} after {options['timeout']}s")
        self._report(execution)

    def _report(self, execution: Execution) -> None:
        self.stdout.write(f"execution {execution.pk} {execution.status}")
        for step in execution.steps.order_by("sequence"):
            line = f"  {step.sequence:>3} {step.status:<9} {step.path}"
            if step.skip_reason:
                line += f" ({step.skip_reason})"
            if step.error:
                line += f": {step.error}"
            self.stdout.write(line)
        if execution.error:
            self.stdout.write(f"error: {execution.error}")
        if execution.status != ExecutionStatus.SUCCEEDED:
            raise CommandError(f"execution {execution.pk} {execution.status}")
