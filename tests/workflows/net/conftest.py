"""Fixtures for the notification, HTTP and API actions: real local HTTP(S) servers, a private CA,
a resolver for test host names, and workflows run through the services and the runner.

The servers are ``http.server`` in a thread on 127.0.0.1; each records every request it gets and
answers from a script (``reply``), then with a default. TLS servers present a certificate from a
CA made for the test, trusted through ``KEYFLOW_HTTP_CA_BUNDLE`` — so chat webhooks keep their
https-only rule and certificate checks are real.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from directory.actors import Actor
from directory.models import AdminRole
from executions.models import Execution
from executions.tasks import run_execution
from workflows.services import workflow_create, workflow_run

# Names the tests resolve to 127.0.0.1 themselves (``names`` fixture); the real DNS knows none of them.
TEST_NAMES = ("svc.internal.test", "public.example.test", "other.internal.test")


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], bytes]


@dataclass
class ScriptedServer:
    """A local HTTP(S) server that records requests and answers from a script."""

    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    replies: list[Reply | Callable[[Received], Reply]] = field(default_factory=list)
    default: Reply = (200, {"Content-Type": "application/json"}, b'{"ok": true}')
    sni: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                got = Received(
                    method=self.command,
                    path=self.path,
                    headers={k: v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    at=time.monotonic(),
                )
                server.received.append(got)
                reply = server.replies.pop(0) if server.replies else server.default
                status, headers, body = reply(got) if callable(reply) else reply
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if self.tls is not None:
            self.tls.sni_callback = lambda sock, name, ctx: self.sni.append(name)
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def reply(self, status: int, body: Any = b"", headers: dict[str, str] | None = None) -> None:
        if not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers = {"Content-Type": "application/json", **(headers or {})}
        self.replies.append((status, headers or {}, body))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class LocalCA:
    """A certificate authority made for the test, and leaf certificates it signs."""

    directory: Path
    key: Any = None
    cert: Any = None

    def __post_init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Keyflow test CA")])
        now = dt.datetime.now(dt.UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.bundle = self.directory / "ca.pem"
        self.bundle.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def server_context(self, *names: str) -> ssl.SSLContext:
        """A server-side TLS context with a certificate for ``names`` (host names or IP addresses)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        stem = self.directory / f"leaf-{x509.random_serial_number()}"
        cert_file, key_file = stem.with_suffix(".crt"), stem.with_suffix(".key")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
        return context


@pytest.fixture
def ca(tmp_path: Path, settings: Any) -> LocalCA:
    """A test CA whose certificates Keyflow's outbound client trusts (``KEYFLOW_HTTP_CA_BUNDLE``)."""
    authority = LocalCA(tmp_path)
    settings.KEYFLOW_HTTP_CA_BUNDLE = str(authority.bundle)
    return authority


@pytest.fixture
def make_server() -> Iterator[Callable[..., ScriptedServer]]:
    servers: list[ScriptedServer] = []

    def make(tls: ssl.SSLContext | None = None) -> ScriptedServer:
        server = ScriptedServer(tls=tls)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def server(make_server: Callable[..., ScriptedServer]) -> ScriptedServer:
    """A plain-HTTP local server."""
    return make_server()


@pytest.fixture
def tls_server(make_server: Callable[..., ScriptedServer], ca: LocalCA) -> ScriptedServer:
    """An HTTPS local server with a certificate for 127.0.0.1 and the test names."""
    return make_server(ca.server_context("127.0.0.1", "svc.internal.test", "public.example.test"))


@pytest.fixture
def allow(settings: Any) -> Callable[..., None]:
    """Allow-list hosts for outbound requests, for one test."""

    def go(*hosts: str) -> None:
        settings.KEYFLOW_HTTP_ALLOWED_HOSTS = [h.lower() for h in hosts]

    settings.KEYFLOW_HTTP_ALLOWED_HOSTS = []
    return go


@dataclass
class Names:
    """A resolver for test names: each resolves to 127.0.0.1 (or what the test says); others go to
    the real resolver. Counts lookups, to show each hop resolves once."""

    answers: dict[str, list[str]] = field(default_factory=lambda: {n: ["127.0.0.1"] for n in TEST_NAMES})
    lookups: list[str] = field(default_factory=list)


@pytest.fixture
def names(monkeypatch: pytest.MonkeyPatch) -> Names:
    table = Names()
    real = socket.getaddrinfo

    def fake(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name in table.answers:
            table.lookups.append(name)
            return [
                (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0)))
                for a in table.answers[name]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return table


# --- workflows ------------------------------------------------------------------------------------


@pytest.fixture
def system(db: None) -> Actor:
    return Actor.system()


@pytest.fixture
def admin_role(db: None) -> AdminRole:
    return AdminRole.objects.get(key="administrator")


@pytest.fixture
def make_workflow(admin_role: AdminRole, administrator: Any) -> Callable[..., Any]:
    """Save a manual workflow through the service (validated like any other)."""
    counter = {"n": 0}

    def make(do: list[dict[str, Any]], *, role: AdminRole | str | None = None, name: str | None = None) -> Any:
        counter["n"] += 1
        if isinstance(role, str):
            role = AdminRole.objects.get(key=role)
        definition = {"dsl": "1.0", "trigger": {"type": "manual"}, "do": do}
        return workflow_create(
            name=name or f"wf-{counter['n']}", definition=definition, run_as=role or admin_role, actor=administrator
        )

    return make


@pytest.fixture
def run(administrator: Any) -> Callable[..., Execution]:
    """Start a manual run and run it in this process (no heartbeat thread: the test DB is in a transaction)."""

    def go(workflow: Any, input: dict[str, Any] | None = None) -> Execution:
        execution = workflow_run(workflow=workflow, input=input or {}, actor=administrator)
        run_execution(execution.pk, heartbeat=False)
        execution.refresh_from_db()
        return execution

    return go


@pytest.fixture
def run_one(make_workflow: Callable[..., Any], run: Callable[..., Execution]) -> Callable[..., Execution]:
    """Save and run a workflow of one ``call`` task named ``step``; returns the finished execution."""

    def go(action: str, params: dict[str, Any], *, role: AdminRole | str | None = None, **task: Any) -> Execution:
        workflow = make_workflow([{"step": {"call": action, "with": params, **task}}], role=role)
        return run(workflow)

    return go


def step_of(execution: Execution) -> Any:
    """The execution's only step record."""
    return execution.steps.get()
