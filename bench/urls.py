"""URLs of the benchmark floor, included by ``config/urls.py`` only when ``KEYFLOW_BENCH_FLOOR`` is set."""

from __future__ import annotations

from django.urls import path

from bench.floor_view import floor_write

urlpatterns = [
    path("floor/<int:workflow_id>/<int:version_id>/", floor_write, name="bench-floor"),
]
