"""The REST API: ``/api/v1/…``, its OpenAPI schema at ``/api/schema/`` and Swagger UI at
``/api/docs/`` (assets served from drf-spectacular-sidecar, so the docs work offline)."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

API_DESCRIPTION = """Directory, workflows and execution history of a Keyflow instance.

**Authentication.** `Authorization: Token <key>` (create one with `python manage.py drf_create_token
<username>`), or the admin's session for the builder pages. What a caller may do follows their admin
role: only Administrator roles create, change, run and cancel workflows. A caller who may not see a
kind of object gets 404 on its detail URLs and 403 on its lists.

**Lists** take `limit` and `offset` (at most 500 per page) and return `count`, `next`, `previous`
and `results`; `ordering` sorts (`-field` for descending); filters are query parameters.

**Errors** are `{"detail": "...", "code": "..."}`. A 400 for invalid input adds `errors`, keyed by
field path (`email`, `recipients[1]`): a list of messages, except for documents with their own
structure — a workflow `definition` and a run's `input` — whose items are `{"path", "message"}`
with the path inside the document (`do[0].notify.call`, `input.email`). 409 means the request
clashes with the current state: a workflow that cannot run now, an `Idempotency-Key` reused with
different input, an execution that already finished, or a concurrent save of the same name.
"""

SCHEMA_SETTINGS = {
    "DESCRIPTION": API_DESCRIPTION,
    # Choice sets that share a field name get a stable, readable component name.
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "executions.choices.ExecutionStatus",
        "CommandRunStatusEnum": "directory.choices.CommandRunStatus",
        "WorkflowTypeEnum": "workflows.choices.WorkflowType",
    },
}

urlpatterns = [
    path(
        "v1/",
        include(
            [
                path("", include("directory.api.urls")),
                path("", include("workflows.api.urls")),
                path("", include("executions.api.urls")),
            ]
        ),
    ),
    path("schema/", SpectacularAPIView.as_view(custom_settings=SCHEMA_SETTINGS), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file and templates/api/swagger_ui.html
    # its page style: no inline script or style, so the page passes the Content-Security-Policy.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]
