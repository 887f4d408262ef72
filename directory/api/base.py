"""What every Keyflow API view shares: who may call it, how errors and pages look, who acts.

Permissions follow one path, Django model permissions (``user.has_perm``), the same ones the
Django admin and the builder check. Each viewset names the model its objects are
(``perm_model``) and the mapping from actions to permissions is the usual one (list and
retrieve: ``view_``, create: ``add_``, update: ``change_``, destroy: ``delete_``); extra
actions state theirs in ``action_permissions``. A caller who may not even view a kind of
object gets 404 on detail URLs — the API does not confirm that an object exists to someone
who may not see it — and 403 on list and create. Anonymous callers get 401.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import exceptions, filters, pagination, parsers, permissions, views, viewsets
from rest_framework.authtoken.models import Token
from rest_framework.request import Request

from directory.actors import Actor
from directory.api.errors import keyflow_exception_handler
from directory.api.schema import KeyflowAutoSchema

__all__ = [
    "ActionPermissions",
    "KeyflowAPIView",
    "KeyflowGenericViewSet",
    "KeyflowJSONParser",
    "KeyflowModelViewSet",
    "KeyflowPagination",
    "StableOrderingFilter",
    "api_actor",
]

_DEFAULT_VERBS = {
    "list": "view",
    "retrieve": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


def api_actor(request: Request) -> Actor:
    """The author of the directory changes this request makes.

    The actor middleware runs before DRF authenticates a token, so API views pass the actor to
    the services explicitly; a token caller is recorded as ``api_token`` in the event log. A workflow's
    ``api.call`` sets ``keyflow_actor`` on its request: the execution is the author then (a client
    cannot set a request attribute).
    """
    acting = getattr(request, "keyflow_actor", None)
    if isinstance(acting, Actor):
        return acting
    return Actor.for_admin(request.user, via_token=isinstance(request.auth, Token))


class KeyflowPagination(pagination.LimitOffsetPagination):
    """``limit``/``offset`` with the total ``count``; ``limit`` is capped so a client cannot ask
    for a page the database cannot slice."""

    default_limit = 50
    max_limit = 500


class StableOrderingFilter(filters.OrderingFilter):
    """``?ordering=`` (or the model's default order) with the primary key as the last tie-breaker.

    Sorted by a field many rows share (``state``, ``status``, a timestamp), the database may
    return equal rows in any order, and differently for each page: limit/offset pages would then
    repeat some rows and never show others.
    """

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any) -> list[Any]:
        ordering = list(
            super().get_ordering(request, queryset, view) or queryset.query.order_by or queryset.model._meta.ordering
        )
        keys = {"pk", queryset.model._meta.pk.name}
        if not any(isinstance(field, str) and field.lstrip("-") in keys for field in ordering):
            descending = bool(ordering) and isinstance(ordering[-1], str) and ordering[-1].startswith("-")
            ordering.append("-pk" if descending else "pk")
        return ordering


class KeyflowJSONParser(parsers.JSONParser):
    """JSON only, refusing what would otherwise fail deep inside a save as a 500: documents
    nested too deeply to walk, and lone UTF-16 surrogates (``"\\ud800"``) no database stores."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise exceptions.ParseError("JSON parse error - the document is nested too deeply.") from exc
        if _has_lone_surrogate(data):
            raise exceptions.ParseError("JSON parse error - text contains an unpaired UTF-16 surrogate.")
        return data


def _has_lone_surrogate(data: Any) -> bool:
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False


# An action's permissions: a tuple of ``app_label.codename``, or one tuple per HTTP method.
PermissionSpec = tuple[str, ...] | Mapping[str, tuple[str, ...]]


class ActionPermissions(permissions.BasePermission):
    """Model permissions per action, with 404 for detail URLs of kinds the caller may not view."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        visible = view.view_permission()
        if visible and getattr(view, "detail", False) and not view.user_may(user, visible):
            raise exceptions.NotFound()
        return all(view.user_may(user, perm) for perm in view.required_permissions(request.method))


class _KeyflowAPIMixin:
    """Parsers, permissions, pagination, error shape and schema shared by every API view."""

    parser_classes = [KeyflowJSONParser]
    permission_classes = [ActionPermissions]
    filter_backends = [DjangoFilterBackend, StableOrderingFilter]
    pagination_class = KeyflowPagination
    schema = KeyflowAutoSchema()

    # ``("directory", "user")``: the model whose permissions guard this viewset.
    perm_model: ClassVar[tuple[str, str] | None] = None
    # Extra actions (and overrides): action name → permissions.
    action_permissions: ClassVar[dict[str, PermissionSpec]] = {}
    # Stable operation id prefix: ``users`` gives ``users_list``, ``users_create``…
    operation_prefix: ClassVar[str] = ""

    def get_exception_handler(self) -> Callable[..., Any]:
        return keyflow_exception_handler

    def user_may(self, user: Any, perm: str) -> bool:
        """Does ``user`` hold ``perm``? Apps with stricter rules for some permissions override this."""
        return user.has_perm(perm)

    def view_permission(self) -> str | None:
        """The permission without which objects of this kind do not exist for the caller."""
        if self.perm_model is None:
            return None
        app_label, model = self.perm_model
        return f"{app_label}.view_{model}"

    def required_permissions(self, method: str) -> tuple[str, ...]:
        """What the current action needs, from ``action_permissions`` or the CRUD defaults."""
        action = getattr(self, "action", None) or ""
        spec = self.action_permissions.get(action)
        visible = self.view_permission()
        if isinstance(spec, Mapping):
            method = "GET" if method.upper() == "HEAD" else method.upper()
            return tuple(spec[method]) if method in spec else ((visible,) if visible else ())
        if spec is not None:
            return tuple(spec)
        verb = _DEFAULT_VERBS.get(action)
        if verb is None or self.perm_model is None:
            # An undeclared action (OPTIONS, a method the route does not allow): viewing is enough
            # to be told what is (not) allowed here.
            return (visible,) if visible else ()
        app_label, model = self.perm_model
        return (f"{app_label}.{verb}_{model}",)


class KeyflowAPIView(_KeyflowAPIMixin, views.APIView):
    """A single endpoint (the catalogue): guarded by the view permission of ``perm_model``."""


class KeyflowGenericViewSet(_KeyflowAPIMixin, viewsets.GenericViewSet):
    """A viewset whose actions are declared one by one."""


class KeyflowModelViewSet(_KeyflowAPIMixin, viewsets.ModelViewSet):
    """List, create, retrieve, update, partial update and destroy, writes through services.

    Subclasses implement ``perform_create(serializer)``, ``perform_update(serializer)`` and
    ``perform_destroy(instance)`` by calling the app's service with ``actor=api_actor(...)``.
    """

    def perform_create(self, serializer: Any) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def perform_update(self, serializer: Any) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError

    def perform_destroy(self, instance: Any) -> None:  # pragma: no cover - always overridden
        raise NotImplementedError
