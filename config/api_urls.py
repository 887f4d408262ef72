"""The REST API: ``/api/v1/…``, its OpenAPI schema at ``/api/schema/`` and Swagger UI at
``/api/docs/`` (assets served from drf-spectacular-sidecar, so the docs work offline)."""

from __future__ import annotations

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

# Choice sets that share a field name get a stable, readable component name.
SCHEMA_SETTINGS = {
    "ENUM_NAME_OVERRIDES": {
        "ExecutionStatusEnum": "executions.choices.ExecutionStatus",
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
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
