"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path

from workflows.views.overview import home

urlpatterns = [
    path("", home, name="home"),
    path("workflows/", include("workflows.urls")),
    path("executions/", include("executions.urls")),
    path("admin/", admin.site.urls),
    path("api/", include("config.api_urls")),
]
