"""``api.call``: any operation of Keyflow's own REST API, by its OpenAPI ``operationId``, as the run-as role.

The call goes through the API's own view, in this process: the path is resolved with Django's URL
resolver, a real request is built (``APIRequestFactory``: method, query string, JSON body) and
authenticated as the run-as role's principal with DRF's ``force_authenticate``, and the view runs —
DRF's permission classes, object lookups (404 for what the role may not see), serializers and
services — exactly as for a person holding the role who sent that request. It therefore can do
nothing the role may not. Going through the WSGI handler instead would need a credential for the
principal (a session row or an API token that could leak) and would add only middleware that no
permission decision depends on.

Directory changes it makes are attributed to the execution (``request.keyflow_actor``, honoured by
``directory.api.base.api_actor``), so they carry its trigger depth and the loop guard holds. The step
runs in the runner's transaction (``effect = DATABASE``): a failed call changes nothing.

Some operations are refused from workflows whatever the role (``REFUSED_OPERATIONS``). The API has no
token-management operation (tokens are made with ``manage.py drf_create_token``), so there is none to
refuse.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.urls import Resolver404, resolve

from directory.actors import acting_as
from workflows.actions.base import DATABASE, Action, ActionContext, ActionError, PermissionDenied
from workflows.actions.registry import register

_WORKFLOWS = (
    "workflows changing workflows would skip the review that saving one gets (the run-as check is made "
    "against the admin who saves it)"
)
_CREDENTIALS = "{} hold credentials; a workflow that could re-point one would send its secret elsewhere"

# Operations a workflow may not call, whatever its run-as role may do, and why.
REFUSED_OPERATIONS: dict[str, str] = {
    "roles_create": "admin roles decide who may do what; people change them, not workflows",
    **{
        f"workflows_{verb}": _WORKFLOWS
        for verb in ("create", "update", "partial_update", "destroy", "import", "enable", "disable")
    },
    "workflows_run": "a workflow starting workflows through the API would escape the trigger-depth limit "
    "that stops runaway chains",
    **{
        f"{kind}_{verb}": _CREDENTIALS.format(noun)
        for kind, noun in (("connections", "connections"), ("notification_channels", "notification channels"))
        for verb in ("create", "update", "partial_update", "destroy")
    },
}

_METHODS = ("get", "post", "put", "patch", "delete")


@dataclass(frozen=True)
class Operation:
    """One API operation as the OpenAPI schema describes it."""

    operation_id: str
    method: str
    path: str
    path_params: tuple[str, ...]
    query_params: frozenset[str]
    has_body: bool


@lru_cache(maxsize=1)
def operations() -> dict[str, Operation]:
    """Every operation of the served schema (``/api/schema/``), by ``operationId``; built once per process."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.settings import patched_settings

    from config.api_urls import SCHEMA_SETTINGS

    with patched_settings(SCHEMA_SETTINGS):
        schema = SchemaGenerator().get_schema(request=None, public=True)
    found: dict[str, Operation] = {}
    for path, item in schema.get("paths", {}).items():
        for method in _METHODS:
            spec = item.get(method)
            if not spec or "operationId" not in spec:
                continue
            params = spec.get("parameters", [])
            found[spec["operationId"]] = Operation(
                operation_id=spec["operationId"],
                method=method.upper(),
                path=path,
                path_params=tuple(p["name"] for p in params if p.get("in") == "path"),
                query_params=frozenset(p["name"] for p in params if p.get("in") == "query"),
                has_body="requestBody" in spec,
            )
    return found


def _server_name() -> str:
    """A host name the site accepts (``ALLOWED_HOSTS``), for links the API builds (paging)."""
    for host in settings.ALLOWED_HOSTS:
        if host and host != "*":
            return host.lstrip(".")
    return "localhost"


@register
class ApiCall(Action):
    key = "api.call"
    label = "Call Keyflow's API"
    category = "Keyflow"
    description = (
        "Run any operation of Keyflow's REST API by its operationId (see /api/schema/), as the run-as role: "
        "it may do exactly what a person holding the role may do over the API. Changing workflows, roles, "
        "connections and notification channels, and running workflows, are refused."
    )
    params_schema = {
        "type": "object",
        "required": ["operation_id"],
        "properties": {
            "operation_id": {
                "type": "string",
                "minLength": 1,
                "title": "Operation",
                "description": "The operation's operationId in /api/schema/, e.g. users_list or users_partial_update",
            },
            "path_params": {
                "type": "object",
                "title": "Path parameters",
                "description": 'Values for the operation\'s path, e.g. {"id": 42}',
                "additionalProperties": {"type": ["string", "integer", "object"]},
            },
            "query": {
                "type": "object",
                "title": "Query parameters",
                "description": "Filters, ordering, limit and offset, as the operation documents them",
            },
            "body": {"title": "Body", "description": "The request body (JSON), for operations that take one"},
        },
        "additionalProperties": False,
    }
    output_schema = {
        "type": "object",
        "properties": {
            "operation_id": {"type": "string"},
            "status": {"type": "integer", "description": "The API's HTTP status (2xx; an error status fails the step)"},
            "body": {"description": "The API's response body (JSON); null when there is none (204)"},
            "truncated": {
                "type": "boolean",
                "description": "True when the body was longer than KEYFLOW_HTTP_MAX_RESPONSE_BYTES (the body is "
                "then the text received up to there); ask for a smaller page with limit",
            },
        },
    }
    # What the role may do is decided by the API itself, per operation and object.
    permissions = ()
    effect = DATABASE

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        operation_id = str(params["operation_id"]).strip()
        if operation_id in REFUSED_OPERATIONS:
            raise PermissionDenied(f"api.call may not run {operation_id}: {REFUSED_OPERATIONS[operation_id]}")
        known = operations()
        operation = known.get(operation_id)
        if operation is None:
            close = difflib.get_close_matches(operation_id, list(known), n=1, cutoff=0.7)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ActionError(f"no API operation has operationId {operation_id!r}{hint}")
        path = _path(operation, params.get("path_params") or {})
        query = _query(operation, params.get("query") or {})
        if "body" in params and params["body"] is not None and not operation.has_body:
            raise ActionError(f"{operation_id} takes no body")
        if ctx.principal is None:
            raise ActionError(f"run-as role {ctx.role_name} has no service account to call the API as")
        # A fresh instance: Django caches permissions on a user object, and the role may have changed.
        principal = type(ctx.principal).objects.get(pk=ctx.principal.pk)
        response = _call(operation, path, query, params.get("body"), principal, ctx)
        return _result(operation, response, ctx)


def _path(operation: Operation, values: Any) -> str:
    if not isinstance(values, dict):
        raise ActionError("path_params must be an object")
    missing = [name for name in operation.path_params if values.get(name) in (None, "")]
    if missing:
        raise ActionError(f"{operation.operation_id} needs path parameter(s) {', '.join(missing)}")
    unknown = sorted(set(values) - set(operation.path_params))
    if unknown:
        expected = ", ".join(operation.path_params) or "none"
        raise ActionError(f"{operation.operation_id} has no path parameter {unknown[0]!r} (it takes: {expected})")
    filled = {}
    for name in operation.path_params:
        value = values[name]
        if isinstance(value, dict) and "id" in value:  # a whole object from an expression
            value = value["id"]
        filled[name] = quote(str(value), safe="")
    return operation.path.format(**filled)


def _query(operation: Operation, values: Any) -> list[tuple[str, str]]:
    """The query as pairs; a name the operation does not document is an error, not silently ignored
    (a mistyped filter would otherwise act on every object)."""
    if not isinstance(values, dict):
        raise ActionError("query must be an object")
    pairs = []
    for name, value in values.items():
        if name not in operation.query_params:
            expected = ", ".join(sorted(operation.query_params)) or "none"
            raise ActionError(f"{operation.operation_id} has no query parameter {name!r} (it takes: {expected})")
        for item in value if isinstance(value, list) else [value]:
            text = "true" if item is True else "false" if item is False else "" if item is None else str(item)
            pairs.append((name, text))
    return pairs


def _call(
    operation: Operation, path: str, query: list[tuple[str, str]], body: Any, principal: Any, ctx: ActionContext
) -> Any:
    from rest_framework.test import APIRequestFactory, force_authenticate

    url = f"{path}?{urlencode(query)}" if query else path
    try:
        match = resolve(path)
    except Resolver404:
        raise ActionError(
            f"{operation.operation_id}: {path} is not served (the schema and the URLs disagree)"
        ) from None
    data = json.dumps(body) if body is not None else ""
    request = APIRequestFactory().generic(
        operation.method, url, data=data, content_type="application/json", HTTP_HOST=_server_name()
    )
    request.keyflow_actor = ctx.actor  # the execution is the author of what the call changes
    force_authenticate(request, user=principal)
    with acting_as(ctx.actor):
        response = match.func(request, *match.args, **match.kwargs)
        if hasattr(response, "render") and not getattr(response, "is_rendered", True):
            response.render()
    return response


def _result(operation: Operation, response: Any, ctx: ActionContext) -> dict[str, Any]:
    status = response.status_code
    content: bytes = response.content or b""
    limit = settings.KEYFLOW_HTTP_MAX_RESPONSE_BYTES
    truncated = len(content) > limit
    text = content[:limit].decode("utf-8", errors="replace")
    body: Any = None
    if text and not truncated and "json" in response.get("Content-Type", ""):
        body = json.loads(text)
    elif text:
        body = text
    if status < 400:
        return {"operation_id": operation.operation_id, "status": status, "body": body, "truncated": truncated}
    detail = body.get("detail", "") if isinstance(body, dict) else str(body or "")[:300]
    message = f"{operation.operation_id}: {status} {detail}".rstrip()
    if isinstance(body, dict) and isinstance(body.get("errors"), dict):
        message += " — " + "; ".join(f"{field}: {_items(items)}" for field, items in body["errors"].items())
    if status in (401, 403):
        raise PermissionDenied(f"run-as role {ctx.role_name} may not {message}")
    if status == 404:
        message += f" (or run-as role {ctx.role_name} may not see it)"
    raise ActionError(message, retryable=status >= 500)


def _items(items: Any) -> str:
    if not isinstance(items, list):
        return str(items)
    return " ".join(f"{i.get('path')}: {i.get('message')}" if isinstance(i, dict) else str(i) for i in items)
