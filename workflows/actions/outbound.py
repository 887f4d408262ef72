"""Outbound HTTP for workflow actions: public addresses only, pinned, bounded, secret-free errors.

Each hop (the request and every redirect) resolves the host once, refuses it unless every address
is public or the host is allow-listed (``KEYFLOW_HTTP_ALLOWED_HOSTS``), and connects to the address
it checked: the URL carries the IP while the Host header, TLS SNI and the certificate check carry
the name, so a DNS answer that changes between the check and the connection (rebinding) cannot
move the request. Redirects are followed here rather than by httpx so that each one is checked the
same way and credentials never follow a redirect to another origin. Bodies are read while
streaming, up to a cap. A fresh client per hop: a pooled connection opened for one host name must
never carry a request for another that happens to share its address.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import certifi
from django.conf import settings

from directory.redaction import REDACTED, redact
from workflows.actions.base import ActionError

if TYPE_CHECKING:
    import httpx

# httpx is imported where a request is made, not here: the web processes validate and list actions
# but never send, and do not need to hold the HTTP client in memory.

logger = logging.getLogger("keyflow.actions.outbound")

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# Headers the client sets itself; a workflow setting them would break the pinning or the framing.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "upgrade", "te"})
USER_AGENT = "Keyflow (+https://github.com/keyflow; workflow action)"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Stop this long before the deadline when waiting out a Retry-After: the step still has to record.
_DEADLINE_MARGIN = 0.5

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(ActionError):
    """The target is not a public address and its host is not allow-listed; never retried."""


@dataclass(frozen=True)
class Response:
    """A response read within the caps. ``url`` is the final URL (after redirects), by host name."""

    status: int
    reason: str
    headers: httpx.Headers
    body: bytes
    truncated: bool
    url: httpx.URL

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            name, _, value = part.partition("=")
            if name.strip().lower() == "charset" and value.strip():
                return value.strip().strip('"')
        return "utf-8"

    def text(self) -> str:
        try:
            return self.body.decode(self.charset, errors="replace")
        except LookupError:  # an unknown charset name
            return self.body.decode("utf-8", errors="replace")


# --- addresses ------------------------------------------------------------------------------------


def is_public_address(ip: Address) -> bool:
    """True for a globally routable unicast address; IPv6 forms embedding an IPv4 address (mapped,
    6to4, Teredo, NAT64) are judged by the address they embed."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        if ip in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if any(inner is not None and not is_public_address(inner) for inner in embedded):
            return False
    return ip.is_global and not (
        ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_unspecified
    )


def host_is_allowed(host: str) -> bool:
    """Is ``host`` (a URL's host name or IP literal) exempt from the public-address rule?"""
    return host.lower().rstrip(".") in settings.KEYFLOW_HTTP_ALLOWED_HOSTS


def resolve_host(url: httpx.URL, *, label: str) -> str:
    """The address to connect to for ``url``: resolved once, and checked unless allow-listed."""
    host = url.raw_host.decode("ascii")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        # EAI_AGAIN is a resolver having a bad moment; anything else is a name that does not resolve.
        raise ActionError(f"{label}: cannot resolve host {url.host}", retryable=exc.errno == socket.EAI_AGAIN) from None
    addresses = list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))
    if not addresses:
        raise ActionError(f"{label}: host {url.host} has no address", retryable=False)
    if not (host_is_allowed(url.host) or host_is_allowed(host)):
        for address in addresses:
            if not is_public_address(ipaddress.ip_address(address)):
                raise OutboundRefused(
                    f"{label}: refused: {url.host} is {address}, not a public address "
                    "(an operator may allow the host in KEYFLOW_HTTP_ALLOWED_HOSTS)"
                )
    return addresses[0]


# --- URLs -----------------------------------------------------------------------------------------


def parse_url(value: str, *, what: str = "url", secret: bool = False) -> httpx.URL:
    """An absolute http(s) URL without credentials in it, or a clear error (which quotes the
    value unless it is ``secret``, as a webhook URL is)."""
    import httpx

    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, TypeError) as exc:
        detail = f"{what} is not a valid URL" if secret else f"{what} {value!r} is not a valid URL: {exc}"
        raise ActionError(detail) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise ActionError(f"{what} must be an absolute http or https URL")
    if url.userinfo:
        raise ActionError(f"{what} must not carry a user name or password; use a connection for credentials")
    return url


def display_url(url: httpx.URL) -> str:
    """``url`` as it may appear in a record or a message: secret-looking query values redacted."""
    if not url.query:
        return str(url)
    params = [(key, redact({key: value})[key]) for key, value in url.params.multi_items()]
    return str(url.copy_with(query=urlencode(params, safe="*").encode()))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


# --- secrets --------------------------------------------------------------------------------------


class Scrubber:
    """Replaces known secret values (a connection's token, a webhook URL) in text and JSON values,
    whatever echoes them back: an error message, a server reflecting a header in its body."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, REDACTED)
        return value

    def value(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value


# --- TLS ------------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _ssl_context(extra_ca_bundle: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=certifi.where())
    if extra_ca_bundle:
        context.load_verify_locations(cafile=extra_ca_bundle)
    return context


def _verify(verify_tls: bool) -> ssl.SSLContext | bool:
    return _ssl_context(settings.KEYFLOW_HTTP_CA_BUNDLE) if verify_tls else False


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


# --- the request ----------------------------------------------------------------------------------


def remaining(deadline: float | None, *, label: str, cap: float | None = None) -> float:
    """Seconds left before ``deadline`` (at most ``cap``); a spent deadline is a retryable timeout."""
    left = float("inf") if deadline is None else deadline - time.monotonic()
    if left <= 0:
        raise ActionError(f"{label}: timed out (the step's time ran out)", retryable=True)
    left = min(left, cap) if cap is not None else left
    return max(0.1, left) if left != float("inf") else 60.0


def request(
    method: str,
    url: httpx.URL,
    *,
    label: str,
    headers: Mapping[str, str] | None = None,
    credentials: Mapping[str, str] | None = None,
    content: bytes | None = None,
    deadline: float | None = None,
    timeout: float | None = None,
    verify_tls: bool = True,
    scrubber: Scrubber | None = None,
    max_bytes: int | None = None,
    max_redirects: int | None = None,
) -> Response:
    """Send one request, following redirects here, and read the response within the caps.

    ``credentials``: headers sent only to the first request's origin (a connection's auth).
    ``label`` names the target in every error (never the full URL of a webhook: it is a secret).
    Transport failures and timeouts raise a retryable ``ActionError``; statuses are left to
    ``check_status``.
    """
    import httpx

    scrubber = scrubber or Scrubber()
    max_bytes = settings.KEYFLOW_HTTP_MAX_RESPONSE_BYTES if max_bytes is None else max_bytes
    max_redirects = settings.KEYFLOW_HTTP_MAX_REDIRECTS if max_redirects is None else max_redirects
    first_origin = _origin(url)
    headers = dict(headers or {})
    for hop in range(max_redirects + 1):
        sent = dict(headers)
        if credentials and _origin(url) == first_origin:
            sent.update(credentials)
        response = _send_once(
            method,
            url,
            label=label,
            headers=sent,
            content=content,
            wait=remaining(deadline, label=label, cap=timeout),
            deadline=deadline,
            verify_tls=verify_tls,
            scrubber=scrubber,
            max_bytes=max_bytes,
        )
        location = response.headers.get("location")
        if response.status not in REDIRECT_STATUSES or not location:
            return response
        if hop == max_redirects:
            raise ActionError(f"{label}: stopped after {max_redirects} redirects")
        try:
            target = url.join(location)
        except httpx.InvalidURL:
            raise ActionError(f"{label}: redirected to an invalid URL") from None
        if target.scheme not in ("http", "https"):
            raise ActionError(f"{label}: redirected to a {target.scheme!r} URL; only http and https are followed")
        if response.status == 303 or (response.status in (301, 302) and method == "POST"):
            # As browsers and httpx do: the redirected request is a GET without the body.
            method = "GET" if method != "HEAD" else "HEAD"
            content = None
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "idempotency-key")}
        logger.info("%s: redirected (%s) to %s", label, response.status, target.host)  # a path may be secret
        url = target
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _send_once(
    method: str,
    url: httpx.URL,
    *,
    label: str,
    headers: dict[str, str],
    content: bytes | None,
    wait: float,
    deadline: float | None,
    verify_tls: bool,
    scrubber: Scrubber,
    max_bytes: int,
) -> Response:
    import httpx

    address = resolve_host(url, label=label)
    host_header = url.netloc.decode("ascii")  # the name (and a non-default port) the server expects
    pinned = url.copy_with(host=address)
    with httpx.Client(
        verify=_verify(verify_tls), trust_env=False, follow_redirects=False, timeout=httpx.Timeout(wait)
    ) as client:
        built = client.build_request(
            method,
            pinned,
            headers={"User-Agent": USER_AGENT, **headers, "Host": host_header},
            content=content,
            extensions={"sni_hostname": url.raw_host.decode("ascii")},
        )
        try:
            response = client.send(built, stream=True)
        except httpx.TimeoutException:
            raise ActionError(f"{label}: timed out after {wait:.1f} s", retryable=True) from None
        except httpx.TransportError as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or type(tls).__name__
                raise ActionError(scrubber.text(f"{label}: TLS failed with {url.host}: {reason}")) from None
            raise ActionError(scrubber.text(f"{label}: connection failed: {exc}"), retryable=True) from None
        try:
            truncated = False
            chunks: list[bytes] = []
            if response.status_code not in REDIRECT_STATUSES:
                size = 0
                for chunk in response.iter_bytes():
                    if deadline is not None and time.monotonic() > deadline:
                        raise ActionError(f"{label}: timed out reading the response", retryable=True)
                    room = max_bytes - size
                    if len(chunk) > room:
                        chunks.append(chunk[:room])
                        truncated = True
                        break
                    chunks.append(chunk)
                    size += len(chunk)
        except httpx.TimeoutException:
            raise ActionError(f"{label}: timed out reading the response", retryable=True) from None
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise ActionError(scrubber.text(f"{label}: reading the response failed: {exc}"), retryable=True) from None
        finally:
            response.close()
    logger.info("%s: %s (%s bytes%s)", label, response.status_code, sum(map(len, chunks)), ", truncated" * truncated)
    return Response(
        status=response.status_code,
        reason=response.reason_phrase,
        headers=response.headers,
        body=b"".join(chunks),
        truncated=truncated,
        url=url,
    )


# --- statuses -------------------------------------------------------------------------------------


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header's delay in seconds (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def check_status(
    response: Response,
    *,
    label: str,
    deadline: float | None,
    scrubber: Scrubber | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Raise for an error status: 429 and 5xx are retryable, other 4xx are not.

    A Retry-After (429, 503) is honoured by waiting it out here, before the error goes to the
    runner's retry, when it fits in the step's deadline and ``KEYFLOW_HTTP_MAX_RETRY_AFTER_SECONDS``
    — the runner has no hook for a server-given delay, and the action runs with no transaction
    open, so waiting holds nothing but the worker. A longer one fails the attempt at once, saying so.
    """
    if response.status < 400:
        return
    scrubber = scrubber or Scrubber()
    message = f"{label}: {response.status} {response.reason}".rstrip()
    if response.status == 429 or response.status >= 500:
        delay = retry_after_seconds(response.headers.get("retry-after"))
        if delay is not None:
            left = float("inf") if deadline is None else deadline - time.monotonic() - _DEADLINE_MARGIN
            if delay <= min(left, settings.KEYFLOW_HTTP_MAX_RETRY_AFTER_SECONDS):
                sleep(delay)
                message += f" (waited the {delay:g} s its Retry-After asked)"
            else:
                message += f" (its Retry-After of {delay:g} s is longer than this step may wait)"
        raise ActionError(message, retryable=True)
    snippet = " ".join(response.text()[:300].split())
    raise ActionError(scrubber.text(f"{message}: {snippet}" if snippet else message))
