"""``http.request``: call an outside HTTP API, optionally through a Connection holding its credentials."""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from directory.choices import ConnectionAuthType
from directory.models import Connection
from directory.redaction import redact
from workflows.actions import outbound
from workflows.actions.base import EXTERNAL, Action, ActionContext, ActionError
from workflows.actions.registry import register
from workflows.actions.resolvers import reference_schema, resolve

if TYPE_CHECKING:
    import httpx

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
# An HTTP header name is a token (RFC 9110, section 5.6.2).
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_SCALAR = {"type": ["string", "number", "boolean"]}


@register
class HttpRequest(Action):
    key = "http.request"
    label = "HTTP request"
    category = "HTTP"
    description = (
        "Call an HTTP API: a URL, or a path under a connection's base URL with the connection's credentials. "
        "Only public addresses are reached unless the operator allows a host. Succeeds on 2xx and 3xx; 429 "
        "and 5xx are retried when the task has a retry policy; other 4xx fail the step."
    )
    params_schema = {
        "type": "object",
        "properties": {
            "method": {"type": "string", "enum": list(METHODS), "default": "GET", "title": "Method"},
            "url": {
                "type": "string",
                "minLength": 1,
                "title": "URL",
                "description": "An absolute http(s) URL. With a connection, give a path instead.",
            },
            "connection": {
                **reference_schema("connection"),
                "title": "Connection",
                "description": "The connection whose base URL, credentials, TLS check and timeout to use: "
                "its id or name",
            },
            "path": {
                "type": "string",
                "title": "Path",
                "description": "With a connection: the path under its base URL (e.g. /users/42)",
            },
            "query": {
                "type": "object",
                "title": "Query parameters",
                "description": "Added to the URL's query; a list value repeats the parameter",
                "additionalProperties": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
            },
            "headers": {
                "type": "object",
                "title": "Headers",
                "description": "Extra request headers. Put credentials in a connection, not here.",
                "additionalProperties": {"type": "string"},
            },
            "json": {"title": "JSON body", "description": "Sent as application/json"},
            "form": {
                "type": "object",
                "title": "Form body",
                "description": "Sent as application/x-www-form-urlencoded",
                "additionalProperties": {"oneOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
            },
        },
        "additionalProperties": False,
        "anyOf": [{"required": ["url"]}, {"required": ["connection"]}],
        "dependentSchemas": {
            "connection": {
                "not": {"required": ["url"]},
                "x-keyflow-messages": {"not": "give a path with a connection, not a url"},
            },
            "json": {"not": {"required": ["form"]}, "x-keyflow-messages": {"not": "give json or form, not both"}},
        },
        "x-keyflow-messages": {"anyOf": "give a url, or a connection (and a path under its base URL)"},
    }
    output_schema = {
        "type": "object",
        "properties": {
            "status": {"type": "integer", "description": "The HTTP status code"},
            "headers": {
                "type": "object",
                "description": "Response headers, names in lower case (cookies and credential-like headers redacted)",
            },
            "body": {
                "description": "The response body: parsed when it is JSON (and complete), else text; null for HEAD",
            },
            "truncated": {
                "type": "boolean",
                "description": "True when the body was longer than KEYFLOW_HTTP_MAX_RESPONSE_BYTES and was cut there "
                "(the body is then the text received)",
            },
            "url": {
                "type": "string",
                "description": "The final URL, after redirects (secret-looking query values redacted)",
            },
        },
    }
    # Any role may call a public URL; using a connection's credentials needs ``directory.view_connection``
    # on that connection, checked at run time.
    permissions = ()
    effect = EXTERNAL

    def run(self, ctx: ActionContext, params: dict[str, Any]) -> dict[str, Any]:
        method = str(params.get("method") or "GET").upper()
        if method not in METHODS:
            raise ActionError(f"method must be one of {', '.join(METHODS)}")
        connection: Connection | None = None
        if params.get("connection") not in (None, ""):
            connection = resolve("connection", params["connection"])  # type: ignore[assignment]
            ctx.require("directory.view_connection", connection, verb="use", noun="connection")
            if params.get("url"):
                raise ActionError("give a path with a connection, not a url")
            url = _under_base(connection, str(params.get("path") or ""))
        else:
            if params.get("path"):
                raise ActionError("path needs a connection; without one, give the whole url")
            if not params.get("url"):
                raise ActionError("give a url, or a connection (and a path under its base URL)")
            url = outbound.parse_url(str(params["url"]))
        query = params.get("query") or {}
        if not isinstance(query, dict):
            raise ActionError("query must be an object")
        if query:
            url = url.copy_merge_params(query)
        credentials, secrets = _credentials(connection)
        headers = _headers(params.get("headers"), credentials, connection)
        content = _body(params, headers)
        if ctx.idempotency_key and not any(k.lower() == "idempotency-key" for k in headers):
            headers["Idempotency-Key"] = ctx.idempotency_key
        scrubber = outbound.Scrubber(secrets)
        label = f"{method} {outbound.display_url(url)}"
        response = outbound.request(
            method,
            url,
            label=label,
            headers=headers,
            credentials=credentials,
            content=content,
            deadline=ctx.deadline,
            timeout=float(connection.timeout_seconds) if connection else None,
            verify_tls=connection.verify_tls if connection else True,
            scrubber=scrubber,
        )
        outbound.check_status(response, label=label, deadline=ctx.deadline, scrubber=scrubber)
        return scrubber.value(
            {
                "status": response.status,
                "headers": redact(_header_dict(response.headers)),
                "body": None if method == "HEAD" else _parsed_body(response),
                "truncated": response.truncated,
                "url": outbound.display_url(response.url),
            }
        )


def _under_base(connection: Connection, path: str) -> httpx.URL:
    """``path`` under the connection's base URL; it cannot leave that base (no scheme, no ``..``)."""
    base = outbound.parse_url(connection.base_url, what=f"connection {connection.name!r}'s base URL")
    if not path:
        return base
    if "://" in path or path.startswith("//") or "\\" in path:
        raise ActionError(f"path {path!r} must be a path under the connection's base URL, not a URL")
    if "?" in path or "#" in path:
        raise ActionError(f"path {path!r}: put query parameters in query")
    if ".." in path.split("/"):
        raise ActionError(f"path {path!r} must not contain '..' segments")
    return base.copy_with(path=base.path.rstrip("/") + "/" + path.lstrip("/"))


def _credentials(connection: Connection | None) -> tuple[dict[str, str], list[str]]:
    """The connection's auth header, and every form of its secret to keep out of records."""
    if connection is None or connection.auth_type == ConnectionAuthType.NONE or not connection.secret:
        return {}, []
    secret = connection.secret
    if connection.auth_type == ConnectionAuthType.BEARER:
        return {"Authorization": f"Bearer {secret}"}, [secret]
    if connection.auth_type == ConnectionAuthType.BASIC:
        pair = f"{connection.username}:{secret}"
        encoded = base64.b64encode(pair.encode()).decode()
        return {"Authorization": f"Basic {encoded}"}, [secret, pair, encoded]
    if connection.auth_type == ConnectionAuthType.API_KEY_HEADER:
        return {connection.header_name: secret}, [secret]
    raise ActionError(f"connection {connection.name!r} has an unknown authentication type {connection.auth_type!r}")


def _headers(value: Any, credentials: dict[str, str], connection: Connection | None) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ActionError("headers must be an object of header names to text values")
    taken = {name.lower() for name in credentials}
    headers: dict[str, str] = {}
    for name, raw in value.items():
        if not _HEADER_NAME.fullmatch(str(name)):
            raise ActionError(f"headers: {name!r} is not a valid header name")
        if name.lower() in outbound.RESERVED_HEADERS:
            raise ActionError(f"headers: {name} is set by Keyflow itself")
        if name.lower() in taken and connection is not None:
            raise ActionError(f"headers: {name} is set by connection {connection.name!r}")
        text = raw if isinstance(raw, str) else json.dumps(raw) if raw is not None else ""
        if "\r" in text or "\n" in text:
            raise ActionError(f"headers: the value of {name} must be one line")
        headers[str(name)] = text
    return headers


def _body(params: dict[str, Any], headers: dict[str, str]) -> bytes | None:
    has_type = any(k.lower() == "content-type" for k in headers)
    if "json" in params and "form" in params:
        raise ActionError("give json or form, not both")
    if "json" in params:
        if not has_type:
            headers["Content-Type"] = "application/json"
        return json.dumps(params["json"], separators=(",", ":"), ensure_ascii=False).encode()
    if "form" in params:
        form = params["form"]
        if not isinstance(form, dict):
            raise ActionError("form must be an object")
        if not has_type:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        pairs = [
            (k, _form_value(v))
            for k, values in form.items()
            for v in (values if isinstance(values, list) else [values])
        ]
        return urlencode(pairs).encode()
    return None


def _form_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _header_dict(headers: httpx.Headers) -> dict[str, str]:
    merged: dict[str, str] = {}
    for name, value in headers.multi_items():
        name = name.lower()
        merged[name] = f"{merged[name]}, {value}" if name in merged else value
    return merged


def _parsed_body(response: outbound.Response) -> Any:
    """JSON when the response says it is JSON and arrived whole, else its text."""
    text = response.text()
    kind = response.content_type
    if not response.truncated and (kind == "application/json" or kind.endswith("+json")):
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text
