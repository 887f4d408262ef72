"""Directory endpoints under ``/api/v1/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from directory.api import agent, views

router = SimpleRouter()
router.register("users", views.UserViewSet, basename="users")
router.register("user-groups", views.UserGroupViewSet, basename="user-groups")
router.register("devices", views.DeviceViewSet, basename="devices")
router.register("device-groups", views.DeviceGroupViewSet, basename="device-groups")
router.register("policies", views.PolicyViewSet, basename="policies")
router.register("commands", views.CommandViewSet, basename="commands")
router.register("command-runs", views.CommandRunViewSet, basename="command-runs")
router.register("notification-channels", views.NotificationChannelViewSet, basename="notification-channels")
router.register("connections", views.ConnectionViewSet, basename="connections")
router.register("roles", views.RoleViewSet, basename="roles")
router.register("events", views.DirectoryEventViewSet, basename="events")

urlpatterns = [
    *router.urls,
    path("agent/enrol/", agent.AgentEnrolView.as_view(), name="agent-enrol"),
    path("agent/commands/", agent.AgentCommandsView.as_view(), name="agent-commands"),
    path("agent/commands/<int:pk>/result/", agent.AgentResultView.as_view(), name="agent-command-result"),
]
