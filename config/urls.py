"""Top-level URL configuration."""

from django.conf import settings
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

# The bare-Django floor `make bench-http` measures Keyflow against (bench/floor_view.py): mounted only
# when the benchmark starts the server with KEYFLOW_BENCH_FLOOR=1, never otherwise.
if settings.KEYFLOW_BENCH_FLOOR:
    urlpatterns.append(path("bench/", include("bench.urls")))
