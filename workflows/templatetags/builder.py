"""Small helpers the builder templates need: DOM ids from DSL paths, lookups by key."""

from __future__ import annotations

from typing import Any

from django import template

from workflows.builder.canvas import slug
from workflows.builder.problems import slot_id

register = template.Library()


@register.filter
def dom_slug(path: str) -> str:
    """``do[1].check`` → ``do-1-check``."""
    return slug(str(path))


@register.simple_tag
def dom_id(*parts: Any) -> str:
    """An id from parts, paths slugged: ``{% dom_id "add" lane.path 0 %}`` → ``add-do-0``."""
    return "-".join(slug(str(part)) for part in parts if str(part) != "")


@register.filter
def slot(key: str) -> str:
    """The id of the element holding a panel field's messages."""
    return slot_id(str(key))


@register.filter
def get(mapping: Any, key: Any) -> Any:
    """``mapping[key]``, or an empty list (for messages) when absent."""
    if isinstance(mapping, dict):
        return mapping.get(key, [])
    return []
