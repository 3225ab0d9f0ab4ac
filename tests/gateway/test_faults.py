"""End to end: a fault inside each gateway hook, in a real mitmdump, fails closed.

`faults.py` (a test-only script loaded after the addon) makes a function each hook calls raise
for that hook's trigger host. For each hook: the request gets the fail-closed answer (the
"filter error" page, or for a TLS connection a refusal, never an open pass-through), the
gateway's `prevent_monitor_filter_faults_total` goes up, mitmproxy never sees the exception
(no "Addon error" in its log), and the proxy goes on serving the next normal request.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from tests.gateway.conftest import Origin, Proxy
from tests.gateway.faults import TRIGGERS
from tests.gateway.test_e2e import PUPIL, fetch
from tests.localnet import free_port

pytestmark = pytest.mark.e2e

FAULTS = Path(__file__).with_name("faults.py")
FAULT_METRIC = re.compile(r"(?m)^prevent_monitor_filter_faults_total (\S+)$")


@dataclass
class FaultyGateway:
    proxy: Proxy
    metrics_port: int

    async def faults(self) -> float:
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response,
        ):
            [value] = FAULT_METRIC.findall(await response.text())
            return float(value)

    async def faults_after(self, before: float, *, timeout: float = 10.0) -> float:
        """The fault count once it has gone past `before` (some hooks run after the client
        has its answer)."""
        deadline = time.monotonic() + timeout
        while (now := await self.faults()) <= before and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        return now

    def log_mark(self) -> int:
        return self.proxy.log.stat().st_size

    def logged(self, mark: int, line: str, *, timeout: float = 5.0) -> str:
        """mitmdump's log since `mark`, once it holds `line`; never an escaped exception."""
        deadline = time.monotonic() + timeout
        while True:
            with self.proxy.log.open("rb") as handle:
                handle.seek(mark)
                text = handle.read().decode(errors="replace")
            if line in text or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert "Addon error" not in text, text  # an exception escaped a hook to mitmproxy
        assert line in text, text
        return text


@pytest.fixture(scope="module")
def faulty(proxy_factory: Callable[..., Proxy]) -> FaultyGateway:
    port = free_port()
    proxy = proxy_factory(
        scripts=[FAULTS],
        faults_metrics_port=port,
        gateway_passthrough=TRIGGERS["next_layer"],  # its SNI is decided before any TLS
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # /metrics is served once mitmdump is running
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return FaultyGateway(proxy, port)
        time.sleep(0.1)
    raise AssertionError(f"no /metrics on port {port}: {proxy.log.read_text()}")


async def keeps_serving(gateway: FaultyGateway, origin: Origin, after: str) -> None:
    """The next normal requests, HTTP and HTTPS, pass as ever."""
    for scheme in ("http", "https"):
        status, body = await fetch(gateway.proxy, f"{scheme}://allowed.test/{after}", headers=PUPIL)
        assert (status, body) == (200, f"origin says hello: /{after}")


async def connect(
    proxy: Proxy, target: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str, str]:
    """A raw CONNECT: the stream, the answer's head and its body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
    writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
    await writer.drain()
    head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
    length = re.findall(r"(?im)^content-length: *(\d+)", head)
    body = await asyncio.wait_for(reader.readexactly(int(length[0])), 10) if length else b""
    return reader, writer, head, body.decode()


def assert_error_page(status: int, page: str) -> None:
    assert status == 503, page
    assert "The web filter had a problem" in page and "filter error" in page


@pytest.mark.parametrize("hook", ["requestheaders", "responseheaders", "response"])
async def test_fault_in_an_http_hook_serves_the_error_page(
    faulty: FaultyGateway, origin: Origin, hook: str
) -> None:
    host = TRIGGERS[hook]
    before = await faulty.faults()
    mark = faulty.log_mark()
    for scheme in ("http", "https"):  # plain, and inside intercepted TLS
        status, page = await fetch(faulty.proxy, f"{scheme}://{host}/page-flag", headers=PUPIL)
        assert_error_page(status, page)
        assert "zorblax" not in page  # none of the origin's page gets through
    assert await faulty.faults_after(before + 1) == before + 2
    if hook == "requestheaders":
        assert host not in origin.hosts()  # undecided requests are never forwarded
    faulty.logged(mark, f"fault in {hook}")
    await keeps_serving(faulty, origin, f"after-{hook}")


async def test_fault_in_http_connect_refuses_the_tunnel(
    faulty: FaultyGateway, origin: Origin
) -> None:
    host = TRIGGERS["http_connect"]
    before = await faulty.faults()
    mark = faulty.log_mark()
    _, writer, head, body = await connect(faulty.proxy, f"{host}:443")
    writer.close()
    assert head.startswith("HTTP/1.1 503"), head  # no "200 Connection established"
    assert "filter error" in body
    with pytest.raises(aiohttp.ClientHttpProxyError) as refused:
        await fetch(faulty.proxy, f"https://{host}/x", headers=PUPIL)
    assert refused.value.status == 503
    assert await faulty.faults_after(before + 1) == before + 2
    assert host not in origin.hosts()
    faulty.logged(mark, "fault in http_connect")
    await keeps_serving(faulty, origin, "after-http_connect")


async def refused_tls(proxy: Proxy, sni: str, tls: ssl.SSLContext) -> None:
    """A tunnel for an allowed name whose TLS names `sni` is closed: no answer ever comes."""
    reader, writer, head, _ = await connect(proxy, "allowed.test:443")
    assert head.startswith("HTTP/1.1 200"), head
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        await asyncio.wait_for(writer.start_tls(tls, server_hostname=sni), 10)
        writer.write(f"GET / HTTP/1.1\r\nHost: {sni}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
        assert answer == b"", answer
        raise ConnectionError("closed without an answer")  # reached only on a clean EOF
    writer.close()


@pytest.mark.parametrize("hook", ["next_layer", "tls_clienthello"])
async def test_fault_in_a_tls_hook_refuses_the_connection(
    faulty: FaultyGateway, origin: Origin, hook: str
) -> None:
    sni = TRIGGERS[hook]
    before = await faulty.faults()
    mark = faulty.log_mark()
    await refused_tls(faulty.proxy, sni, faulty.proxy.client_tls())
    assert await faulty.faults_after(before) == before + 1
    assert sni not in origin.hosts()  # neither passed through nor decrypted and forwarded
    faulty.logged(mark, f"fault in {hook}")
    await keeps_serving(faulty, origin, f"after-{hook}")


async def test_fault_in_tls_failed_client_is_counted(faulty: FaultyGateway, origin: Origin) -> None:
    """A device without the school's CA: its handshake fails, and recording it faults."""
    sni = TRIGGERS["tls_failed_client"]
    before = await faulty.faults()
    mark = faulty.log_mark()
    await refused_tls(faulty.proxy, sni, ssl.create_default_context())
    assert await faulty.faults_after(before) == before + 1
    assert sni not in origin.hosts()
    faulty.logged(mark, "fault in tls_failed_client")
    await keeps_serving(faulty, origin, "after-tls_failed_client")
