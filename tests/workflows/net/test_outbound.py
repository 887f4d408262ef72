"""The outbound HTTP client under every HTTP action and webhook: public addresses only (checked on
the resolved address, on every redirect), the checked address pinned for the connection, TLS by
name, capped bodies, Retry-After."""

from __future__ import annotations

import ipaddress
import re
import time

import httpx
import pytest

from workflows.actions import outbound
from workflows.actions.base import ActionError

from .conftest import Names, ScriptedServer


def _get(url: str, **kwargs):
    return outbound.request("GET", httpx.URL(url), label=f"GET {url}", deadline=time.monotonic() + 10, **kwargs)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",  # multicast
        "239.255.255.250",
        "240.0.0.1",  # reserved
        "255.255.255.255",
        "192.0.2.1",  # documentation
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
        "::ffff:10.0.0.1",
        "2002:7f00:1::1",  # 6to4 around 127.0.0.1
        "2002:a00:1::1",  # 6to4 around 10.0.0.1
        "64:ff9b::a00:1",  # NAT64 around 10.0.0.1
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo
    ],
)
def test_non_public_addresses(address: str) -> None:
    assert not outbound.is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses(address: str) -> None:
    assert outbound.is_public_address(ipaddress.ip_address(address))


def test_loopback_is_refused_unless_allow_listed(server: ScriptedServer, allow) -> None:
    with pytest.raises(outbound.OutboundRefused, match=r"127\.0\.0\.1 is 127\.0\.0\.1, not a public address") as caught:
        _get(server.url("/x"))
    assert not caught.value.retryable
    assert server.received == []

    allow("127.0.0.1")
    assert _get(server.url("/x")).status == 200
    assert [r.path for r in server.received] == ["/x"]


def test_a_name_is_judged_by_the_address_it_resolves_to(server: ScriptedServer, allow, names: Names) -> None:
    """A public-looking name that resolves to a private address is refused before any connection;
    so is one whose answers mix public and private addresses (a rebinding setup)."""
    names.answers["public.example.test"] = ["10.0.0.7"]
    with pytest.raises(outbound.OutboundRefused, match=re.escape("public.example.test is 10.0.0.7")):
        _get(f"http://public.example.test:{server.port}/")
    names.answers["public.example.test"] = ["93.184.216.34", "127.0.0.1"]
    with pytest.raises(outbound.OutboundRefused, match=re.escape("is 127.0.0.1")):
        _get(f"http://public.example.test:{server.port}/")
    assert server.received == []


def test_the_checked_address_is_the_one_connected_to(server: ScriptedServer, allow, names: Names) -> None:
    """The name is resolved once, by Keyflow (every lookup of it is counted, httpx's included), and the
    connection goes to that address while the server still sees the name."""
    allow("svc.internal.test")
    response = _get(f"http://svc.internal.test:{server.port}/pinned")
    assert response.status == 200
    assert names.lookups == ["svc.internal.test"]
    (got,) = server.received
    assert got.header("Host") == f"svc.internal.test:{server.port}"
    assert str(response.url) == f"http://svc.internal.test:{server.port}/pinned"


def test_tls_uses_the_name_for_sni_and_the_certificate_check(make_server, ca, allow, names: Names) -> None:
    tls = make_server(ca.server_context("svc.internal.test"))
    allow("svc.internal.test", "other.internal.test")
    assert _get(f"https://svc.internal.test:{tls.port}/").status == 200
    assert tls.sni == ["svc.internal.test"]
    assert tls.received[0].header("Host") == f"svc.internal.test:{tls.port}"

    # Same address, a name the certificate does not cover: refused by the certificate check, not retried.
    with pytest.raises(ActionError, match=re.escape("TLS failed with other.internal.test")) as caught:
        _get(f"https://other.internal.test:{tls.port}/")
    assert not caught.value.retryable
    assert len(tls.received) == 1


def test_an_untrusted_certificate_is_refused_unless_the_connection_skips_the_check(
    make_server, ca, allow, settings
) -> None:
    tls = make_server(ca.server_context("127.0.0.1"))
    allow("127.0.0.1")
    settings.KEYFLOW_HTTP_CA_BUNDLE = ""  # the test CA is no longer trusted
    with pytest.raises(ActionError, match="TLS failed"):
        _get(tls.url("/"))
    assert _get(tls.url("/"), verify_tls=False).status == 200


def test_a_redirect_to_loopback_is_refused(server: ScriptedServer, allow, names: Names) -> None:
    """An allow-listed, public-looking host redirecting to 127.0.0.1 (not allow-listed): the redirect is
    checked like the first request and not followed."""
    allow("public.example.test")
    server.reply(302, b"", {"Location": f"http://127.0.0.1:{server.port}/internal"})
    with pytest.raises(outbound.OutboundRefused, match=re.escape("127.0.0.1 is 127.0.0.1, not a public address")):
        _get(f"http://public.example.test:{server.port}/start")
    assert [r.path for r in server.received] == ["/start"]

    server.reply(307, b"", {"Location": "http://10.9.9.9/metadata"})
    with pytest.raises(outbound.OutboundRefused, match=re.escape("10.9.9.9")):
        _get(f"http://public.example.test:{server.port}/again")
    assert [r.path for r in server.received] == ["/start", "/again"]


def test_redirects_are_followed_to_a_limit(server: ScriptedServer, allow, settings) -> None:
    allow("127.0.0.1")
    settings.KEYFLOW_HTTP_MAX_REDIRECTS = 2
    server.reply(301, b"", {"Location": "/one"})
    server.reply(302, b"", {"Location": "/two"})
    response = _get(server.url("/start"))
    assert (response.status, str(response.url)) == (200, server.url("/two"))
    assert [r.path for r in server.received] == ["/start", "/one", "/two"]

    for n in range(3):
        server.reply(302, b"", {"Location": f"/loop{n}"})
    with pytest.raises(ActionError, match="stopped after 2 redirects"):
        _get(server.url("/start"))


def test_credentials_do_not_follow_a_redirect_to_another_origin(make_server, allow, names: Names) -> None:
    first, second = make_server(), make_server()
    allow("127.0.0.1", "svc.internal.test")
    first.reply(307, b"", {"Location": f"http://svc.internal.test:{second.port}/elsewhere"})
    outbound.request(
        "POST",
        httpx.URL(first.url("/api")),
        label="POST",
        headers={"Content-Type": "application/json"},
        credentials={"Authorization": "Bearer s3cret-token"},
        content=b"{}",
        deadline=time.monotonic() + 10,
    )
    assert first.received[0].header("Authorization") == "Bearer s3cret-token"
    assert second.received[0].header("Authorization") is None
    assert (second.received[0].method, second.received[0].body) == ("POST", b"{}")  # 307 keeps both


def test_a_303_turns_into_a_get_without_the_body(server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    server.reply(303, b"", {"Location": "/result"})
    outbound.request(
        "POST", httpx.URL(server.url("/submit")), label="POST", content=b"a=1", deadline=time.monotonic() + 10
    )
    assert [(r.method, r.path, r.body) for r in server.received] == [
        ("POST", "/submit", b"a=1"),
        ("GET", "/result", b""),
    ]


def test_bodies_are_capped_while_streaming(server: ScriptedServer, allow) -> None:
    allow("127.0.0.1")
    server.reply(200, b"x" * 300_000, {"Content-Type": "text/plain"})
    response = _get(server.url("/big"), max_bytes=1000)
    assert (len(response.body), response.truncated) == (1000, True)
    server.reply(200, b"x" * 1000, {"Content-Type": "text/plain"})
    response = _get(server.url("/exact"), max_bytes=1000)
    assert (len(response.body), response.truncated) == (1000, False)


def test_a_closed_port_is_a_retryable_connection_error(allow) -> None:
    allow("127.0.0.1")
    probe = ScriptedServer()
    port = probe.port
    probe.close()
    with pytest.raises(ActionError, match="connection failed") as caught:
        _get(f"http://127.0.0.1:{port}/")
    assert caught.value.retryable


def test_urls_with_credentials_in_them_are_refused() -> None:
    with pytest.raises(ActionError, match="must not carry a user name or password"):
        outbound.parse_url("https://user:pw@example.com/")
    with pytest.raises(ActionError, match="absolute http or https URL"):
        outbound.parse_url("ftp://example.com/")


def test_display_url_redacts_secret_looking_query_values() -> None:
    url = httpx.URL("https://api.example.com/x?access_token=abc&page=2&api_key=k")
    assert outbound.display_url(url) == "https://api.example.com/x?access_token=***&page=2&api_key=***"


def test_retry_after_seconds() -> None:
    assert outbound.retry_after_seconds("3") == 3.0
    assert outbound.retry_after_seconds(None) is None
    assert outbound.retry_after_seconds("soon") is None
    assert outbound.retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past
