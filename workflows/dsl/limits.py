"""Limits on a workflow document, checked before any work that grows with it.

The validator (shape against the JSON Schema, then the walk over tasks) recurses once per level
of nesting and does more work per task the more tasks come before it; the API runs it in the web
process. So a document is first measured without recursion, and refused outright past any of:

* its size: ``KEYFLOW_MAX_DOCUMENT_BYTES`` (the length of its JSON text), default 256 KB;
* its nesting: ``KEYFLOW_MAX_DOCUMENT_DEPTH`` levels of JSON objects and lists, default 64;
* its tasks: ``KEYFLOW_MAX_TASKS`` in all, nested ones included, default 500;
* task nesting: ``KEYFLOW_MAX_TASK_NESTING`` levels of ``switch`` and ``for`` inside each other,
  default 8.

Each expression in it is bounded too (length and depth, see ``workflows.expressions``), when the
walk reaches it. ``load_schema`` publishes the numbers under ``x-keyflow-limits``.
"""

from __future__ import annotations

from typing import Any

from workflows.bounds import value_size
from workflows.dsl.problems import Problem
from workflows.expression_errors import human_size

__all__ = ["document_limit_problems", "document_limits"]

DEFAULTS = {
    "KEYFLOW_MAX_DOCUMENT_BYTES": 256 * 1024,
    "KEYFLOW_MAX_DOCUMENT_DEPTH": 64,
    "KEYFLOW_MAX_TASKS": 500,
    "KEYFLOW_MAX_TASK_NESTING": 8,
}


def document_limits() -> dict[str, int]:
    """The limits in force (settings, else the defaults), keyed by setting name."""
    from django.conf import settings

    if not settings.configured:
        return dict(DEFAULTS)
    return {name: int(getattr(settings, name, default)) for name, default in DEFAULTS.items()}


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _too_deep(doc: Any, limit: int) -> str | None:
    """The path of the first object or list nested deeper than ``limit``, or None."""
    stack: list[tuple[Any, int, str]] = [(doc, 1, "")]
    while stack:
        value, depth, path = stack.pop()
        if depth > limit:
            return path
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        stack.extend((item, depth + 1, _join(path, key)) for key, item in items if isinstance(item, dict | list))
    return None


def _task_blocks(task: Any, path: str) -> list[tuple[Any, str]]:
    """The task lists directly inside one task (a switch's cases, a loop's body)."""
    if not isinstance(task, dict):
        return []
    if "switch" in task and isinstance(task["switch"], list):
        blocks = []
        for index, entry in enumerate(task["switch"]):
            if isinstance(entry, dict) and len(entry) == 1:
                ((name, case),) = entry.items()
                if isinstance(case, dict):
                    blocks.append((case.get("do"), f"{path}.switch[{index}].{name}.do"))
        return blocks
    if "for" in task:
        return [(task.get("do"), f"{path}.do")]
    return []


def _task_problems(doc: dict[str, Any], max_tasks: int, max_nesting: int) -> list[Problem]:
    count = 0
    stack: list[tuple[Any, str, int]] = [(doc.get("do"), "do", 1)]
    while stack:
        block, path, level = stack.pop()
        if not isinstance(block, list):
            continue
        for index, entry in enumerate(block):
            if not (isinstance(entry, dict) and len(entry) == 1):
                continue
            ((name, task),) = entry.items()
            count += 1
            if count > max_tasks:
                return [Problem("do", f"a workflow has at most {max_tasks} tasks (nested ones included)")]
            task_path = f"{path}[{index}].{name}"
            inner = _task_blocks(task, task_path)
            if inner and level >= max_nesting:
                return [Problem(task_path, f"tasks are nested deeper than {max_nesting} levels (switch and for)")]
            stack.extend((sub, sub_path, level + 1) for sub, sub_path in inner)
    return []


def document_limit_problems(doc: Any) -> list[Problem]:
    """Why ``doc`` is refused before it is validated (empty when it is within every limit).

    Costs at most about the limits' worth of work, whatever the document: the size walk stops
    at the size limit, the depth walk at the depth limit, the task walk at the task limit.
    """
    if not isinstance(doc, dict):
        return []
    limits = document_limits()
    max_bytes = limits["KEYFLOW_MAX_DOCUMENT_BYTES"]
    max_depth = limits["KEYFLOW_MAX_DOCUMENT_DEPTH"]
    if value_size(doc, max_bytes) > max_bytes:
        return [Problem("", f"a workflow definition is at most {human_size(max_bytes)} (as JSON)")]
    deep = _too_deep(doc, max_depth)
    if deep is not None:
        return [Problem(deep, f"the definition is nested deeper than {max_depth} levels of objects and lists")]
    return _task_problems(doc, limits["KEYFLOW_MAX_TASKS"], limits["KEYFLOW_MAX_TASK_NESTING"])
