"""End to end: a real mitmdump with the gateway addon, a local origin, the real events store.

Every request goes through the proxy with aiohttp's client (or a raw socket for the TLS
refusal); events are read back from the SQLite store the addon's EventWriter wrote.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import Origin, Proxy

pytestmark = pytest.mark.e2e

PUPIL = {"X-Forwarded-For": "192.168.7.7"}
YEAR13 = {"X-Forwarded-For": "10.13.2.2"}


async def fetch(
    proxy: Proxy,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    auth: aiohttp.BasicAuth | None = None,
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url,
            proxy=proxy.url,
            proxy_auth=auth,
            headers=headers or {},
            ssl=proxy.client_tls(),
            allow_redirects=False,
        ) as response,
    ):
        return response.status, await response.text()


async def test_http_block_never_reaches_the_origin(proxy: Proxy, origin: Origin) -> None:
    status, page = await fetch(proxy, "http://www.extremist.test/join?x=1", headers=PUPIL)
    assert status == 403
    assert "This page is blocked" in page and "Fictional Example Academy" in page
    assert "terrorist or extremist material" in page
    assert "http://console.test/request-review?url=" in page
    assert "www.extremist.test" not in origin.hosts()
    [event] = proxy.events("host = 'www.extremist.test'")
    assert (event["action"], event["kind"], event["category"]) == ("block", "url", "extremism")
    assert event["client_ip"] == "192.168.7.7" and event["group_name"] == "pupils"
    assert event["event_id"] in page  # the reference number on the page


async def test_the_status_file_has_a_heartbeat_and_the_writers_figures(proxy: Proxy) -> None:
    # What the console's health page reads: rewritten every few seconds while the gateway
    # runs, with the event writer's queue, spool and write rate.
    status_file = proxy.folder / "status.json"
    await fetch(proxy, "http://www.extremist.test/status-check", headers=PUPIL)
    proxy.events("url LIKE '%status-check%'")
    deadline = time.monotonic() + 30
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = json.loads(status_file.read_text())
        writer = status.get("writer") or {}
        if writer.get("written", 0) >= 1 and writer.get("write_rate") is not None:
            break
        await asyncio.sleep(0.5)
    writer = status["writer"]
    assert writer["database_up"] is True and writer["written"] >= 1
    assert writer["spool_records"] == 0 and writer["dropped"] == 0
    assert isinstance(writer["write_rate"], float | int) and status["stopped"] is None
    age = time.time() - datetime.fromisoformat(status["written"]).timestamp()
    assert age < 25, f"status written {age:.0f} s ago"
    assert status["events_submitted"] >= 1 and status["pid"] == proxy.process.pid


async def test_host_header_cannot_smuggle_a_blocked_server(proxy: Proxy, origin: Origin) -> None:
    # The request line names the blocked server; the Host header names an allowed one.
    status, page = await fetch(
        proxy, "http://www.extremist.test/join", headers={**PUPIL, "Host": "allowed.test"}
    )
    assert status == 403 and "This page is blocked" in page
    assert "www.extremist.test" not in origin.hosts() and "allowed.test" not in origin.hosts()


async def test_http_allow_passes_unrecorded(proxy: Proxy, origin: Origin) -> None:
    status, body = await fetch(proxy, "http://allowed.test/hello", headers=PUPIL)
    assert (status, body) == (200, "origin says hello: /hello")
    assert ("allowed.test", "/hello") in origin.seen
    await asyncio.sleep(0.5)
    assert proxy.events("host = 'allowed.test'", at_least=0, timeout=0.5) == []


async def test_http_study_passes_and_is_recorded(proxy: Proxy, origin: Origin) -> None:
    status, body = await fetch(proxy, "http://extremist.test/reading", headers=YEAR13)
    assert (status, body) == (200, "origin says hello: /reading")
    [event] = proxy.events("host = 'extremist.test' AND action = 'study'")
    assert (event["group_name"], event["client_ip"]) == ("year13", "10.13.2.2")
    assert "Year 13 Politics" in event["reason"]


async def test_intercepted_https_shows_the_block_page(proxy: Proxy, origin: Origin) -> None:
    status, page = await fetch(proxy, "https://forum.test/threads/12", headers=PUPIL)
    assert status == 403 and "This page is blocked" in page
    assert ("forum.test", "/threads/12") not in origin.seen
    status, body = await fetch(proxy, "https://forum.test/threads/13", headers=PUPIL)
    assert (status, body) == (200, "origin says hello: /threads/13")
    [event] = proxy.events("url LIKE 'https://forum.test/threads/12%'")
    assert event["rule_source"].endswith("block.urls:1")


async def test_search_term_is_recorded_and_safe_search_enforced(
    proxy: Proxy, origin: Origin
) -> None:
    status, _ = await fetch(
        proxy, "https://www.google.co.uk/search?q=zorblax+front+rally", headers=PUPIL
    )
    assert status == 200
    [(_host, path)] = [s for s in origin.seen if s[0].startswith("www.google.co.uk")]
    assert "safe=active" in path
    [event] = proxy.events("kind = 'search'")
    assert (event["action"], event["category"]) == ("flag", "proscribed")
    assert event["search_terms"] == "zorblax front rally"


async def test_page_over_the_block_threshold_is_replaced(proxy: Proxy, origin: Origin) -> None:
    status, page = await fetch(proxy, "http://allowed.test/page-block", headers=PUPIL)
    assert status == 403 and "zorblax uprising" not in page.split("<dd>")[0]
    assert ("allowed.test", "/page-block") in origin.seen  # fetched, scored, never shown
    status, body = await fetch(proxy, "http://allowed.test/page-flag", headers=PUPIL)
    assert status == 200 and "zorblax uprising" in body
    rows = proxy.events("kind = 'page'", at_least=2)
    assert sorted(r["action"] for r in rows) == ["block", "flag"]
    [blocked] = [r for r in rows if r["action"] == "block"]
    assert blocked["event_id"] in page


def htpasswd(folder: Path, user: str, password: str) -> Path:
    digest = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
    file = folder / "htpasswd"
    file.write_text(f"{user}:{{SHA}}{digest}\n")
    return file


async def test_proxy_authenticated_user_is_in_the_event(
    proxy_factory: Callable[..., Proxy], origin: Origin, tmp_path: Path
) -> None:
    file = htpasswd(tmp_path, "teacher1", "correct horse")
    authed = proxy_factory(proxyauth=f"@{file}")
    status, _ = await fetch(authed, "http://extremist.test/unit")
    assert status == 407
    auth = aiohttp.BasicAuth("teacher1", "correct horse")
    status, body = await fetch(authed, "http://extremist.test/unit", auth=auth)
    assert (status, body) == (200, "origin says hello: /unit")  # staff: flagged, not blocked
    [event] = authed.events("host = 'extremist.test'")
    assert (event["user_name"], event["group_name"], event["action"]) == (
        "teacher1",
        "staff",
        "flag",
    )


async def test_bad_list_change_keeps_the_policy_and_warns_it_staff(proxy: Proxy) -> None:
    domains = proxy.policy_dir / "block.domains"
    status_file = proxy.folder / "status.json"
    original = domains.read_text()
    try:
        domains.write_text(original + "newly-listed.test\nthis is not a domain\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "block.domains:9" not in status_file.read_text():
            await asyncio.sleep(0.2)
        assert "block.domains:9" in json.loads(status_file.read_text())["errors"][0]
        # The warning is IT staff's (status file, /healthz): not in the Prevent lead's queue.
        assert proxy.events("kind = 'policy'", at_least=1, timeout=1) == []
        status, _ = await fetch(proxy, "http://newly-listed.test/", headers=PUPIL)
        assert status == 200  # the previous policy is still in force
        status, _ = await fetch(proxy, "http://extremist.test/", headers=PUPIL)
        assert status == 403
        # Fixing the file brings the new entry in.
        domains.write_text(original + "newly-listed.test\n")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status, _ = await fetch(proxy, "http://newly-listed.test/", headers=PUPIL)
            if status == 403:
                break
            await asyncio.sleep(0.3)
        assert status == 403
    finally:
        domains.write_text(original)
