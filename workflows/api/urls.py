"""Workflow and catalogue endpoints under ``/api/v1/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api import views
from workflows.templates_library import api as templates

router = SimpleRouter()
router.register("workflows", views.WorkflowViewSet, basename="workflows")

urlpatterns = [
    *router.urls,
    path("catalog/actions/", views.ActionCatalogueView.as_view(), name="catalog-actions"),
    path("catalog/triggers/", views.TriggerCatalogueView.as_view(), name="catalog-triggers"),
    path("catalog/events/", views.EventCatalogueView.as_view(), name="catalog-events"),
    path("catalog/operators/", views.OperatorCatalogueView.as_view(), name="catalog-operators"),
    path("dsl/schema/", views.DSLSchemaView.as_view(), name="dsl-schema"),
    path("templates/", templates.TemplateListView.as_view(), name="templates"),
    path("templates/<slug:key>/", templates.TemplateDetailView.as_view(), name="template"),
    path("templates/<slug:key>/instantiate/", templates.TemplateInstantiateView.as_view(), name="template-instantiate"),
]
