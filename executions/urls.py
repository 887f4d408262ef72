"""The history pages under ``/executions/``."""

from __future__ import annotations

from django.urls import path

from executions import views

app_name = "executions"

urlpatterns = [
    path("", views.history, name="history"),
    path("export.csv", views.history_csv, name="history-csv"),
    path("<int:pk>/", views.execution_page, name="detail"),
    path("<int:pk>/step/", views.step_panel, name="step"),
    path("<int:pk>/cancel/", views.cancel, name="cancel"),
    path("<int:pk>/rerun/", views.rerun, name="rerun"),
    path("<int:pk>/export.json", views.export_json, name="export"),
    path("purge/<int:workflow_id>/", views.purge, name="purge"),
]
