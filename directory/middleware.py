"""Attribute changes made during a request to the signed-in admin.

Services receive ``actor=`` explicitly; this covers changes that reach the models without a
service call in between, such as the admin's many-to-many widgets.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from directory.actors import Actor, acting_as


class ActorMiddleware:
    """Make the authenticated admin the current actor for the whole request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            with acting_as(Actor.for_admin(user)):
                return self.get_response(request)
        return self.get_response(request)
