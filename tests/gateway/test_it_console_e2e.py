"""IT staff tune the filter end to end (issue #15): in Debian's Chromium they add a block entry
with a reason, preview what it would do over the recorded week, save it, see a real gateway
(mitmdump with the addon) put it in force, and roll it back. Screenshots go to
test-artifacts/it-*.png for a person to look at."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.console.app import create_app
from monitor.console.settings import ConsoleSettings
from monitor.store.accounts import add_user
from monitor.store.database import make_engine, make_sessionmaker
from tests.console.test_console_browser import page as page  # the Chromium fixture
from tests.gateway.conftest import Proxy
from tests.localnet import served

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
HOST = "newly-listed.test"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


async def status_of(proxy: Proxy, url: str) -> int:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            url, proxy=proxy.url, headers={"X-Forwarded-For": "192.168.4.4"},
            allow_redirects=False,
        ) as response,
    ):  # fmt: skip
        return response.status


async def until_status(proxy: Proxy, url: str, wanted: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (status := await status_of(proxy, url)) != wanted:
        assert time.monotonic() < deadline, f"{url}: still {status}, not {wanted}"
        await asyncio.sleep(0.5)


@pytest.fixture
def gateway(proxy_factory: Callable[..., Proxy]) -> Proxy:
    return proxy_factory(gateway_trusted_proxies="127.0.0.1", gateway_context_log_days=7)


@pytest.fixture
def it_password(gateway: Proxy) -> str:
    engine = make_engine(f"sqlite:///{gateway.database}")
    with make_sessionmaker(engine)() as session:
        password = add_user(session, "it.tech", "it_staff", change_due=False)
        session.commit()
    engine.dispose()
    return password


@pytest.fixture
async def console(gateway: Proxy, tmp_path: Path) -> AsyncIterator[str]:
    app = create_app(
        ConsoleSettings(cookie_secure=False, session_key="e" * 48),
        f"sqlite:///{gateway.database}", gateway.policy_dir / "policy.yaml", tmp_path / "data",
    )  # fmt: skip
    async with served(app) as base:
        yield base


async def test_edit_preview_save_live_in_the_gateway_and_roll_back(
    gateway: Proxy, console: str, it_password: str, page: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    url = f"http://{HOST}/homework"
    for _ in range(3):  # the week's traffic the preview replays: pupils reach the site today
        assert await status_of(gateway, url) == 200
    await asyncio.sleep(6)  # the writer puts the context log down every 5 s

    await page.goto(f"{console}/login")
    await page.fill("input[name=username]", "it.tech")
    await page.fill("input[name=password]", it_password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{console}/dashboard")
    await page.goto(f"{console}/it/lists")
    await page.click("table.lists tr:has-text('local.yaml') >> text=Edit")
    await page.fill("input[name=add_value]", HOST)
    await page.fill("input[name=add_note]", "reported by the Prevent lead")
    await page.fill("textarea[name=reason]", "Extremist forum found in a pupil's search")
    await page.click("text=Preview what this would do")
    await page.wait_for_selector("button:has-text('Save this change')", timeout=60_000)
    result = await page.inner_text("main")
    assert HOST in result and "192.168.4.4" not in result  # counts, never who
    await page.screenshot(path=str(ARTIFACTS / "it-impact.png"), full_page=True)

    await page.click("button:has-text('Save this change')")
    await page.wait_for_selector(".flash.ok")
    assert "Saved as version" in await page.inner_text(".flash.ok")
    await page.screenshot(path=str(ARTIFACTS / "it-saved.png"), full_page=True)
    await until_status(gateway, url, 403)  # live in the gateway, by its own hot reload

    await page.goto(f"{console}/it/policy/versions")
    await page.locator("table.versions tbody tr").first.locator("a").first.click()
    await page.wait_for_selector("pre.diff")
    assert HOST in " ".join(await page.locator("pre.diff .d-add").all_inner_texts())
    await page.screenshot(path=str(ARTIFACTS / "it-version.png"), full_page=True)
    await page.goto(f"{console}/it/policy/versions/1")
    await page.fill("form.rollback textarea[name=reason]", "Listed in error: a history society")
    await page.click("form.rollback button[type=submit]")
    await page.wait_for_selector(".flash.ok")
    assert "Rolled back to version 1" in await page.inner_text(".flash.ok")
    await page.screenshot(path=str(ARTIFACTS / "it-rolled-back.png"), full_page=True)
    await until_status(gateway, url, 200)
