"""End to end: the host-only context log through a real mitmdump and the real SQLite store.
Requests become (identity, minute, host, action) rows with a count, and nothing of a path, a
query or a page is kept. Each test has a gateway of its own (the shared one's tests count the
origin's hosts), and only ever visits hosts those tests do not check the origin for."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import Origin, Proxy
from tests.gateway.test_e2e import fetch

pytestmark = pytest.mark.e2e

SECRETS = ("secret", "private", "token", "join", "/", "?", "=")


def context_rows(
    proxy: Proxy, *, at_least: int = 1, host: str = "", timeout: float = 10.0
) -> list[dict[str, Any]]:
    """The context log's rows, once there are `at_least` (and one for `host`, if named)."""
    deadline = time.monotonic() + timeout
    rows: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        with sqlite3.connect(proxy.database) as db:
            db.row_factory = sqlite3.Row
            rows = [dict(r) for r in db.execute("SELECT * FROM context_log ORDER BY host")]
        if len(rows) >= at_least and (not host or any(r["host"] == host for r in rows)):
            return rows
        time.sleep(0.1)
    return rows


async def test_requests_become_host_only_context_rows(
    proxy_factory: Callable[..., Proxy], origin: Origin
) -> None:
    # A gateway of its own: the shared one's tests count its events and the origin's hosts.
    proxy = proxy_factory(gateway_trusted_proxies="127.0.0.1")
    await asyncio.sleep(1)  # mitmdump listens before the addon has its options
    who = {"X-Forwarded-For": "192.168.9.9"}
    for _ in range(3):
        status, _ = await fetch(proxy, "http://news.example/secret/path?q=private", headers=who)
        assert status == 200
    status, _ = await fetch(proxy, "http://www.extremist.test/join?x=1", headers=who)
    assert status == 403
    status, _ = await fetch(proxy, "https://news.example/tls?token=abc", headers=who)
    assert status == 200
    # A blocked HTTPS host: the block page inside TLS, recorded from the request inside.
    status, _ = await fetch(proxy, "https://doh-resolver.test/dns-query", headers=who)
    assert status == 403
    rows = context_rows(proxy, at_least=4, host="doh-resolver.test")
    seen = {(r["identity"], r["host"], r["action"]): r["requests"] for r in rows}
    pupil = "address:192.168.9.9"
    assert seen[(pupil, "news.example", "allow")] == 4  # three HTTP requests and one inside TLS
    assert seen[(pupil, "www.extremist.test", "block")] == 1
    assert seen[(pupil, "doh-resolver.test", "block")] == 1
    with sqlite3.connect(proxy.database) as db:
        columns = {row[1] for row in db.execute("PRAGMA table_info(context_log)")}
    assert columns == {"id", "school", "identity", "minute", "host", "action", "requests"}
    for row in rows:
        assert not any(s in row["host"] for s in SECRETS), row
        assert row["minute"].endswith(":00") or ":00." in row["minute"], row  # whole minutes


async def test_context_log_off_keeps_nothing(
    proxy_factory: Callable[..., Proxy], origin: Origin
) -> None:
    off = proxy_factory(gateway_context_log_days=0)
    await asyncio.sleep(1)  # mitmdump listens before the addon has its options
    status, _ = await fetch(off, "http://news.example/hello")
    assert status == 200
    await fetch(off, "http://www.extremist.test/join")
    assert off.events("host = 'www.extremist.test'")  # events are still recorded
    assert context_rows(off, timeout=1.5) == []


async def test_without_interception_a_tunnel_is_one_visit(
    proxy_factory: Callable[..., Proxy], origin: Origin
) -> None:
    plain = proxy_factory(ignore_hosts=".*")  # what gateway.intercept_tls: false sets
    await asyncio.sleep(1)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientConnectorError):
            # the origin's certificate is not trusted, as nothing is intercepted: the tunnel
            # itself is what the gateway saw
            await session.get("https://news.example/x?q=1", proxy=plain.url)
    [row] = context_rows(plain)
    assert (row["identity"], row["host"], row["action"]) == (
        "address:127.0.0.1",
        "news.example",
        "allow",
    )
