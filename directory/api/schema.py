"""The OpenAPI schema of the API: stable operation ids and documented error responses.

``operationId`` is part of the contract — workflows call the API by it (``api.call``) — so it
must not change when a URL or a view class is renamed. Each viewset therefore states its
``operation_prefix`` and the id is ``<prefix>_<action>`` (``users_list``, ``workflows_run``);
an ``@extend_schema(operation_id=…)`` on a view still wins.

Every operation also documents the errors it can answer with, in the shape of
``directory.api.errors``, so that schema-driven tests can check error bodies too.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions

from directory.api.errors import ErrorSerializer, ValidationErrorSerializer

_WRITE_METHODS = {"POST", "PUT", "PATCH"}


class KeyflowAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema with Keyflow's operation ids and error responses."""

    def get_operation_id(self) -> str:
        prefix = getattr(self.view, "operation_prefix", None)
        action = getattr(self.view, "action", None)
        if prefix and action:
            return f"{prefix}_{action}"
        return super().get_operation_id()

    def get_tags(self) -> list[str]:
        """Group operations by their collection: the first path segment after the version."""
        parts = [part for part in self.path.split("/") if part]
        if "v1" in parts and parts.index("v1") + 1 < len(parts):
            return [parts[parts.index("v1") + 1]]
        return super().get_tags()

    def _is_public(self) -> bool:
        return any(isinstance(p, permissions.AllowAny) for p in self.view.get_permissions())

    def _has_request_body(self) -> bool:
        return self.method in _WRITE_METHODS and self.get_request_serializer() is not None

    def _error_responses(self) -> dict[str, Any]:
        errors: dict[str, Any] = {}
        if self._has_request_body() or (self.method == "GET" and self._is_list_view()):
            errors["400"] = OpenApiResponse(
                ValidationErrorSerializer, description="Invalid input: `errors` lists each problem by field path."
            )
        if not self._is_public():
            errors["401"] = OpenApiResponse(ErrorSerializer, description="No or invalid credentials.")
            errors["403"] = OpenApiResponse(ErrorSerializer, description="The caller's role does not allow this.")
        if "{" in self.path:
            errors["404"] = OpenApiResponse(
                ErrorSerializer, description="No such object, or the caller may not see objects of this kind."
            )
        return errors

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, response in self._error_responses().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        return responses
