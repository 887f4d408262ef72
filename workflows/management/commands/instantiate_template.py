"""``manage.py instantiate_template KEY --inputs '{...}'``: a workflow from a template, for scripts."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workflows.services import WorkflowInvalid
from workflows.templates_library import TemplateInputsInvalid, all_templates, get_template
from workflows.templates_library.services import template_instantiate


class Command(BaseCommand):
    help = (
        "Create a workflow from a template with its inputs (JSON). Without a key, list the templates and "
        "the inputs each one takes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("key", nargs="?", help="Template key (see the list without one)")
        parser.add_argument("--inputs", default="{}", help='Input values as a JSON object, e.g. {"days": 30}')
        parser.add_argument("--name", help="Workflow name (default: the template's)")
        parser.add_argument("--disabled", action="store_true", help="Create the workflow disabled")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["key"]:
            self._list()
            return
        template = get_template(options["key"])
        if template is None:
            known = ", ".join(t.key for t in all_templates())
            raise CommandError(f"No template {options['key']!r}. Templates: {known}")
        try:
            inputs = json.loads(options["inputs"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--inputs is not valid JSON: {exc}") from exc
        if not isinstance(inputs, dict):
            raise CommandError("--inputs must be a JSON object")
        try:
            workflow = template_instantiate(
                template=template, inputs=inputs, name=options["name"], enabled=not options["disabled"], actor=None
            )
        except TemplateInputsInvalid as exc:
            lines = [f"  {name}: {' '.join(messages)}" for name, messages in exc.errors.items()]
            raise CommandError("Inputs refused:\n" + "\n".join(lines)) from exc
        except WorkflowInvalid as exc:
            lines = [f"  {p.path}: {p.message}" for p in exc.problems]
            raise CommandError("Workflow refused:\n" + "\n".join(lines)) from exc
        state = "enabled" if workflow.enabled else "disabled"
        self.stdout.write(f"workflow {workflow.pk} {workflow.name!r} created ({state}, runs as {workflow.run_as.name})")

    def _list(self) -> None:
        for template in all_templates():
            self.stdout.write(f"{template.key}  ({template.category_label}; {template.trigger_summary})")
            for item in template.inputs:
                default = "" if item.required else f" [default {json.dumps(item.default)}]"
                self.stdout.write(f"    {item.name}: {item.kind.label}{default} — {item.help}")
