"""Keyset pages for the execution history API: the key the history pages and their indexes use.

Limit/offset made a deep page cost every row before it (and a ``count`` of the whole filtered
history on every page); a cursor on ``queued_at`` (newest first, ties broken by id) costs what
the first page does, served by ``execution_history_idx`` / ``execution_workflow_history_idx``.
"""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from directory.api.errors import InvalidInput
from executions.selectors import PAGE_SIZE


class ExecutionCursorPagination(CursorPagination):
    """``?cursor=`` from the ``next``/``previous`` links; ``?limit=`` rows a page (at most 500)."""

    ordering = ("-queued_at", "-id")
    page_size = PAGE_SIZE
    page_size_query_param = "limit"
    max_page_size = 500
    cursor_query_description = "The `next` or `previous` link's cursor (opaque: do not build one)."
    page_size_query_description = f"Rows per page (default {PAGE_SIZE}, at most 500)."

    def decode_cursor(self, request: Request) -> Cursor | None:
        """A cursor the list did not give is a 400 naming the parameter, not DRF's 404."""
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            reason = "Not a cursor from this list's next or previous link."
            raise InvalidInput({self.cursor_query_param: [reason]}) from exc
