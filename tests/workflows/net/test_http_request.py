"""http.request as a workflow step against a real local server: what arrives (method, path, query,
headers, body, the connection's credentials), what the step records (never the secret), retries on
503 and 429, refusals of loopback and private targets and of redirects to them, caps and timeouts."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest

from directory import services as ds
from directory.role_services import role_create
from workflows.services import WorkflowInvalid

from .conftest import Received, ScriptedServer, step_of

pytestmark = pytest.mark.django_db

SECRET = "tok-5ecret-value-42"
RETRY = {"max_attempts": 3, "initial_delay": 0.01, "jitter": False}


def _echo(got: Received) -> tuple[int, dict[str, str], bytes]:
    """Reflect the request back, as httpbin does: the worst case for keeping a secret out of records."""
    body = {"method": got.method, "path": got.path, "headers": got.headers, "body": got.body.decode()}
    return (
        200,
        {"Content-Type": "application/json", "X-Echo": "yes", "Set-Cookie": "sid=abc"},
        json.dumps(body).encode(),
    )


def _split(url: str) -> tuple[str, list[tuple[str, str]]]:
    """A URL's path (or URL without the query) and its query pairs, sorted: workflow params stored in
    PostgreSQL's jsonb come back with their keys in another order."""
    base, _, query = url.partition("?")
    return base, sorted(parse_qsl(query))


def _stored(step: Any) -> str:
    return json.dumps([step.input, step.output, step.error])


@pytest.fixture
def api(system: Any, server: ScriptedServer, allow: Any) -> Any:
    """A bearer-token connection to the local server, allow-listed."""
    allow("127.0.0.1")
    return ds.connection_create(
        actor=system,
        name="Local API",
        base_url=server.url("/api/v2/"),
        auth_type="bearer",
        secret=SECRET,
        timeout_seconds=5,
    )


def test_get_through_a_connection(run_one, api, server: ScriptedServer, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    server.replies.append(_echo)
    execution = run_one(
        "http.request",
        {"connection": "Local API", "path": "/users/42", "query": {"expand": "groups", "tag": ["a", "b"]}},
    )
    assert execution.status == "succeeded", execution.error
    (got,) = server.received
    assert (got.method, _split(got.path)) == (
        "GET",
        ("/api/v2/users/42", [("expand", "groups"), ("tag", "a"), ("tag", "b")]),
    )
    assert got.header("Authorization") == f"Bearer {SECRET}"
    assert got.header("Idempotency-Key") == f"{execution.pk}:do[0].step:1"
    assert got.header("Host") == f"127.0.0.1:{server.port}"

    step = step_of(execution)
    output = step.output
    assert output["status"] == 200
    assert output["truncated"] is False
    assert _split(output["url"]) == (server.url("/api/v2/users/42"), [("expand", "groups"), ("tag", "a"), ("tag", "b")])
    assert output["headers"]["x-echo"] == "yes"
    assert output["headers"]["set-cookie"] == "***"
    assert output["body"]["method"] == "GET"  # parsed JSON
    assert output["body"]["headers"]["Authorization"] == "Bearer ***"  # the server echoed it: scrubbed
    assert SECRET not in _stored(step)
    assert SECRET not in caplog.text


def test_post_json_with_headers(run_one, api, server: ScriptedServer) -> None:
    execution = run_one(
        "http.request",
        {
            "connection": "Local API",
            "method": "POST",
            "path": "tickets",
            "headers": {"X-Request-Source": "keyflow", "Authorization-Hint": "none"},
            "json": {"title": "Offboard {{ 'ann' }}", "tags": ["hr"], "urgent": True},
        },
    )
    assert execution.status == "succeeded", execution.error
    (got,) = server.received
    assert (got.method, got.path) == ("POST", "/api/v2/tickets")
    assert got.header("Content-Type") == "application/json"
    assert got.header("X-Request-Source") == "keyflow"
    assert got.json() == {"title": "Offboard ann", "tags": ["hr"], "urgent": True}


def test_post_a_form_to_a_url(run_one, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    server.reply(201, b"created", {"Content-Type": "text/plain; charset=utf-8"})
    execution = run_one(
        "http.request",
        {"url": server.url("/form"), "method": "POST", "form": {"name": "Ann Lee", "ids": [1, 2], "ok": True}},
    )
    assert execution.status == "succeeded", execution.error
    (got,) = server.received
    assert got.header("Content-Type") == "application/x-www-form-urlencoded"
    assert sorted(parse_qsl(got.body.decode())) == [("ids", "1"), ("ids", "2"), ("name", "Ann Lee"), ("ok", "true")]
    assert got.header("Authorization") is None
    assert step_of(execution).output["body"] == "created"  # text, not JSON
    assert step_of(execution).output["status"] == 201


@pytest.mark.parametrize(
    ("fields", "header", "value"),
    [
        ({"auth_type": "basic", "username": "svc"}, "Authorization", "Basic c3ZjOnRvay01ZWNyZXQtdmFsdWUtNDI="),
        ({"auth_type": "api_key_header", "header_name": "X-API-Key"}, "X-API-Key", SECRET),
    ],
)
def test_basic_and_api_key_connections(run_one, system, server: ScriptedServer, allow, fields, header, value) -> None:
    allow("127.0.0.1")
    ds.connection_create(actor=system, name="Svc", base_url=server.url("/"), secret=SECRET, **fields)
    server.replies.append(_echo)
    execution = run_one("http.request", {"connection": "Svc", "path": "/who"})
    assert execution.status == "succeeded", execution.error
    assert server.received[0].header(header) == value
    stored = _stored(step_of(execution))
    assert SECRET not in stored and value not in stored


def test_a_header_the_connection_sets_cannot_be_overridden(run_one, api, server: ScriptedServer) -> None:
    execution = run_one("http.request", {"connection": "Local API", "headers": {"authorization": "Bearer mine"}})
    assert execution.status == "failed"
    assert step_of(execution).error == "headers: authorization is set by connection 'Local API'"
    assert step_of(execution).input["headers"] == {"authorization": "***"}  # redacted by name in the record
    assert server.received == []


def test_secret_looking_query_values_stay_out_of_the_record(run_one, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    execution = run_one("http.request", {"url": server.url("/q"), "query": {"access_token": "qs-secret", "page": 2}})
    assert execution.status == "succeeded", execution.error
    assert _split(server.received[0].path) == ("/q", [("access_token", "qs-secret"), ("page", "2")])
    step = step_of(execution)
    assert _split(step.output["url"]) == (server.url("/q"), [("access_token", "***"), ("page", "2")])
    assert "qs-secret" not in _stored(step)


def test_retried_after_503(run_one, api, server: ScriptedServer) -> None:
    server.reply(503, b"try later")
    server.reply(200, {"done": True})
    execution = run_one("http.request", {"connection": "Local API", "path": "/job"}, retry=RETRY)
    assert execution.status == "succeeded", execution.error
    assert len(server.received) == 2
    step = step_of(execution)
    assert (step.attempts, step.output["body"]) == (2, {"done": True})


def test_429_honours_retry_after(run_one, api, server: ScriptedServer) -> None:
    server.reply(429, {"error": "slow down"}, {"Retry-After": "1"})
    execution = run_one("http.request", {"connection": "Local API", "path": "/job"}, retry=RETRY)
    assert execution.status == "succeeded", execution.error
    first, second = server.received
    assert second.at - first.at >= 1.0
    assert step_of(execution).attempts == 2


def test_a_retry_after_longer_than_the_step_may_wait_fails_the_attempt_at_once(
    run_one, api, server: ScriptedServer
) -> None:
    server.reply(429, b"", {"Retry-After": "3600"})
    begun = time.monotonic()
    execution = run_one("http.request", {"connection": "Local API", "path": "/job"}, timeout=5)
    assert time.monotonic() - begun < 4
    assert step_of(execution).error == (
        f"GET {server.url('/api/v2/job')}: 429 Too Many Requests "
        "(its Retry-After of 3600 s is longer than this step may wait)"
    )


def test_5xx_fails_after_its_attempts_and_4xx_at_once(run_one, api, server: ScriptedServer) -> None:
    server.default = (500, {}, b"")
    execution = run_one("http.request", {"connection": "Local API", "path": "/x"}, retry=RETRY)
    assert execution.status == "failed"
    assert step_of(execution).attempts == 3
    assert step_of(execution).error == f"GET {server.url('/api/v2/x')}: 500 Internal Server Error"

    server.received.clear()
    server.default = (404, {"Content-Type": "application/json"}, json.dumps({"detail": f"no user; {SECRET}"}).encode())
    execution = run_one("http.request", {"connection": "Local API", "path": "/x"}, retry=RETRY)
    step = step_of(execution)
    assert (execution.status, step.attempts, len(server.received)) == ("failed", 1, 1)
    assert step.error == f'GET {server.url("/api/v2/x")}: 404 Not Found: {{"detail": "no user; ***"}}'


def test_a_slow_server_times_out_within_the_task_timeout(run_one, server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")

    def slow(got: Received) -> tuple[int, dict[str, str], bytes]:
        time.sleep(3)
        return 200, {}, b""

    server.replies.append(slow)
    begun = time.monotonic()
    execution = run_one("http.request", {"url": server.url("/slow")}, timeout=1)
    assert time.monotonic() - begun < 2.5
    assert execution.status == "failed"
    assert re.fullmatch(rf"GET {re.escape(server.url('/slow'))}: timed out after [01]\.\d s", step_of(execution).error)


def test_bodies_past_the_cap_are_cut_and_marked(run_one, server: ScriptedServer, allow, settings) -> None:
    allow("127.0.0.1")
    settings.KEYFLOW_HTTP_MAX_RESPONSE_BYTES = 1000
    server.reply(200, {"items": ["x" * 100] * 50})
    output = step_of(run_one("http.request", {"url": server.url("/big")})).output
    assert output["truncated"] is True
    assert isinstance(output["body"], str) and len(output["body"]) == 1000


def test_loopback_and_private_targets_are_refused(run_one, server: ScriptedServer, allow, names) -> None:
    allow()  # nothing allow-listed
    execution = run_one("http.request", {"url": server.url("/internal")}, retry=RETRY)
    step = step_of(execution)
    assert (execution.status, step.attempts) == ("failed", 1)
    assert step.error == (
        f"GET {server.url('/internal')}: refused: 127.0.0.1 is 127.0.0.1, not a public address "
        "(an operator may allow the host in KEYFLOW_HTTP_ALLOWED_HOSTS)"
    )
    names.answers["public.example.test"] = ["192.168.0.10"]
    execution = run_one("http.request", {"url": "http://public.example.test/"})
    assert "public.example.test is 192.168.0.10, not a public address" in step_of(execution).error
    execution = run_one("http.request", {"url": "http://169.254.169.254/latest/meta-data/"})
    assert "169.254.169.254 is 169.254.169.254, not a public address" in step_of(execution).error
    assert server.received == []


def test_a_redirect_to_loopback_is_refused(run_one, server: ScriptedServer, allow, names) -> None:
    """``public.example.test`` stands for an allowed outside host (it resolves to the test server);
    it redirects to 127.0.0.1, which is not allowed: the redirect is not followed."""
    allow("public.example.test")
    server.reply(302, b"", {"Location": f"http://127.0.0.1:{server.port}/admin"})
    execution = run_one("http.request", {"url": f"http://public.example.test:{server.port}/start"})
    assert execution.status == "failed"
    assert "refused: 127.0.0.1 is 127.0.0.1, not a public address" in step_of(execution).error
    assert [r.path for r in server.received] == ["/start"]


def test_using_a_connection_needs_view_connection_on_it(run_one, api, administrator, server: ScriptedServer) -> None:
    role = role_create(name="No connections", based_on=None, actor=administrator)
    execution = run_one("http.request", {"connection": "Local API", "path": "/x"}, role=role)
    assert execution.status == "failed"
    assert step_of(execution).error == "run-as role No connections may not use connection Local API"
    assert server.received == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"connection": "Local API", "url": "http://x.example/"}, "give a path with a connection, not a url"),
        ({"method": "GET"}, "give a url, or a connection (and a path under its base URL)"),
        ({"url": "http://x.example/", "json": {}, "form": {}}, "give json or form, not both"),
        ({"url": "http://x.example/", "method": "TRACE"}, "must be one of"),
    ],
)
def test_param_problems_are_found_at_save(make_workflow, params, message) -> None:
    with pytest.raises(WorkflowInvalid) as caught:
        make_workflow([{"step": {"call": "http.request", "with": params}}])
    assert any(message in p.message for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("//evil.example/x", "must be a path under the connection's base URL, not a URL"),
        ("http://evil.example/x", "must be a path under the connection's base URL, not a URL"),
        ("../admin", "must not contain '..' segments"),
        ("users?id=1", "put query parameters in query"),
    ],
)
def test_a_path_cannot_leave_the_connection_base(run_one, api, server: ScriptedServer, path, message) -> None:
    execution = run_one("http.request", {"connection": "Local API", "path": path})
    assert message in step_of(execution).error
    assert server.received == []


def test_a_url_with_credentials_is_refused(run_one) -> None:
    execution = run_one("http.request", {"url": "https://user:pw@api.example.com/"})
    assert step_of(execution).error == "url must not carry a user name or password; use a connection for credentials"
