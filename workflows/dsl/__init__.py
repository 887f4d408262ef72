"""The workflow DSL: its published JSON Schema, the validator, and a walk over a document's tasks.

The builder, the API, templates and import all speak one JSON document (see DESIGN.md, "The
DSL"); ``validate_definition`` is the single check they share, and ``load_schema`` is what
the API publishes.
"""

from __future__ import annotations

from workflows.dsl.problems import Problem
from workflows.dsl.validator import DSL_VERSION, iter_tasks, load_schema, validate_definition

__all__ = ["DSL_VERSION", "Problem", "iter_tasks", "load_schema", "validate_definition"]
