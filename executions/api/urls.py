"""Execution endpoints under ``/api/v1/``."""

from __future__ import annotations

from rest_framework.routers import SimpleRouter

from executions.api import views

router = SimpleRouter()
router.register("executions", views.ExecutionViewSet, basename="executions")

urlpatterns = router.urls
