"""End to end over HTTPS: a real mitmdump with the gateway addon, a local origin, the real store.

With interception on, a blocked HTTPS site gets the block page inside TLS (the school's CA) and
its upstream is never contacted; with it off (or for passthrough hosts) the CONNECT is refused
with a 403 naming the reference. The gateway's own hosts (the review link's) pass untouched.
A real Chromium that trusts the gateway's CA (by its SPKI hash) shows the page
(`test_browser.py`).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import Origin, Proxy
from tests.gateway.test_e2e import PUPIL, fetch

pytestmark = pytest.mark.e2e


class Canary:
    """A TCP listener that counts connections: an upstream that must never be contacted."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def accepted(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def canary() -> AsyncIterator[Canary]:
    result = Canary()
    server = await asyncio.start_server(result.accepted, "127.0.0.1", 0)
    result.port = server.sockets[0].getsockname()[1]
    yield result
    server.close()
    await server.wait_closed()


async def list_loopback(proxy: Proxy) -> None:
    """List 127.0.0.1 (the canary's address) in this gateway's copy of the policy."""
    with (proxy.policy_dir / "block.domains").open("a") as handle:
        handle.write("127.0.0.1\n")
    for _ in range(100):
        await asyncio.sleep(0.2)
        try:
            status, _ = await fetch(proxy, "http://127.0.0.1:9/", headers=PUPIL)
        except aiohttp.ClientError:
            continue
        if status == 403:
            return
    raise AssertionError("the policy change was not picked up")


def referenced(proxy: Proxy, text: str) -> object:
    """The stored event a page's or refusal's reference opens (repeats fold into one)."""
    [reference] = set(re.findall(r"\b[0-9a-f]{32}\b", text))
    [event] = proxy.events(
        f"pk IN (SELECT event_pk FROM event_receipts WHERE event_id = '{reference}')"
    )
    return event


async def test_blocked_https_site_gets_the_block_page_inside_tls(
    proxy: Proxy, origin: Origin
) -> None:
    status, page = await fetch(proxy, "https://doh-resolver.test/dns-query", headers=PUPIL)
    assert status == 403 and "This page is blocked" in page
    assert "doh-resolver.test" not in origin.hosts()
    [event] = proxy.events("host = 'doh-resolver.test'")
    assert (event["action"], event["kind"]) == ("block", "circumvention")
    assert event["event_id"] in page


async def test_listed_ip_literal_is_blocked_and_never_contacted(
    proxy_factory: Callable[..., Proxy], canary: Canary
) -> None:
    gateway = proxy_factory()
    await list_loopback(gateway)
    status, page = await fetch(gateway, f"https://127.0.0.1:{canary.port}/x", headers=PUPIL)
    assert status == 403 and "This page is blocked" in page
    event: Any = referenced(gateway, page)  # folded with the plain HTTP visit
    assert (event["host"], event["action"], event["category"]) == (
        "127.0.0.1",
        "block",
        "extremism",
    )
    assert canary.connections == 0  # no TCP, so no TLS, ever reached the upstream


async def test_without_interception_connect_is_refused_with_a_reference(
    proxy_factory: Callable[..., Proxy], origin: Origin, canary: Canary
) -> None:
    gateway = proxy_factory(ignore_hosts=".*")  # as gateway.intercept_tls: false sets
    await list_loopback(gateway)
    for target in ("doh-resolver.test:443", f"127.0.0.1:{canary.port}"):
        reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
        assert head.startswith("HTTP/1.1 403"), head
        [length] = re.findall(r"(?im)^content-length: *(\d+)", head)
        body = (await asyncio.wait_for(reader.readexactly(int(length)), 10)).decode()
        writer.close()
        event: Any = referenced(gateway, body)
        assert (event["host"], event["action"]) == (target.rsplit(":", 1)[0], "block")
        assert body.startswith("Blocked by the school's web filter: ")
    assert canary.connections == 0 and "doh-resolver.test" not in origin.hosts()


async def test_without_interception_a_blocked_sni_is_refused(
    proxy_factory: Callable[..., Proxy], origin: Origin
) -> None:
    """A tunnel opened for an allowed name whose TLS names a blocked one (domain fronting,
    or transparent mode where only the SNI is known) is closed before any handshake."""
    gateway = proxy_factory(ignore_hosts=".*")
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port)
    writer.write(b"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await writer.start_tls(gateway.client_tls(), server_hostname="vpn-like.test")
        writer.write(b"GET / HTTP/1.1\r\nHost: vpn-like.test\r\n\r\n")
        await writer.drain()
        assert await reader.read(100) == b""
        raise ConnectionError("closed without an answer")  # reached only on a clean EOF
    writer.close()
    assert "vpn-like.test" not in origin.hosts()
    [event] = gateway.events("host = 'vpn-like.test'")
    assert (event["action"], event["kind"]) == ("block", "circumvention")


async def test_fronted_sni_is_intercepted_and_blocked(proxy: Proxy, origin: Origin) -> None:
    """With interception, the same fronting gets the block page inside the tunnel."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(b"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n")
    await writer.drain()
    assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
    await writer.start_tls(proxy.client_tls(), server_hostname="vpn-like.test")
    writer.write(b"GET / HTTP/1.1\r\nHost: vpn-like.test\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 403") and b"This page is blocked" in answer
    assert "vpn-like.test" not in origin.hosts()


async def test_the_review_link_works_through_the_gateway(proxy: Proxy, origin: Origin) -> None:
    """The console's host is never filtered, unwrapped or recorded."""
    review = "http://console.test/request-review?url=http%3A%2F%2Fextremist.test%2Fx&ref=ab12"
    status, body = await fetch(proxy, review, headers=PUPIL)
    assert status == 200 and body.startswith("origin says hello: /request-review?")
    assert proxy.events("host = 'console.test'", at_least=1, timeout=1) == []
