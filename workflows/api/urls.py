"""Workflow and catalogue endpoints under ``/api/v1/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api import views

router = SimpleRouter()
router.register("workflows", views.WorkflowViewSet, basename="workflows")

urlpatterns = [
    *router.urls,
    path("catalog/actions/", views.ActionCatalogueView.as_view(), name="catalog-actions"),
    path("catalog/triggers/", views.TriggerCatalogueView.as_view(), name="catalog-triggers"),
    path("catalog/events/", views.EventCatalogueView.as_view(), name="catalog-events"),
    path("catalog/operators/", views.OperatorCatalogueView.as_view(), name="catalog-operators"),
    path("dsl/schema/", views.DSLSchemaView.as_view(), name="dsl-schema"),
]
