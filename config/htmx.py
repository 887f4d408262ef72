"""One place that decides whether a page is rendered whole or as an HTMX partial.

Every HTML view renders through ``render_page``: an HTMX request (not a boosted navigation,
not a history restore, which both need the whole document) gets only the named partial of the
template (django-template-partials' ``template.html#partial``); anything else gets the full page.
Views never branch on ``request.htmx`` themselves, so a URL always serves both.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.template.response import TemplateResponse

__all__ = ["render_page", "wants_partial"]


def wants_partial(request: HttpRequest) -> bool:
    """True when the request came from HTMX and only a fragment will be swapped in."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest,
    template_name: str,
    context: dict[str, Any] | None = None,
    *,
    partial: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> TemplateResponse:
    """Render ``template_name`` — or only its ``partial`` when HTMX asks for a fragment."""
    name = f"{template_name}#{partial}" if partial and wants_partial(request) else template_name
    return TemplateResponse(request, name, context or {}, status=status, headers=headers)
