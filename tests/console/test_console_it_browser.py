"""IT staff in a real headless Chromium (Debian's, never a downloaded one): test a URL that a
study exemption lifts and one that is blocked, try a javascript: address, then open the health
page with a gateway that is up, a silent scale-out instance, a refused list change and a
failing feed. Screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from filters.live import LivePolicy
from monitor.console.app import create_app
from monitor.console.settings import ConsoleSettings
from monitor.events import FlaggedEvent
from monitor.gateway.state import GatewayState
from monitor.policyreload import PolicyReloader
from monitor.store.models import FeedState
from monitor.store.writer import EventWriter
from tests.console.test_console_url_test import LOCAL_BLOCK, LOCAL_TERMS, exemptions

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture
async def served(store: Any) -> AsyncIterator[str]:
    local = store.policy.parent / "local"
    (local / "block.yaml").write_text(LOCAL_BLOCK, encoding="utf-8")
    (local / "search-terms.yaml").write_text(LOCAL_TERMS, encoding="utf-8")
    (local / "exemptions.yaml").write_text(exemptions(date.today()), encoding="utf-8")
    app = create_app(
        ConsoleSettings(cookie_secure=False, session_key="c" * 48),
        store.url, store.policy, store.data_dir,
    )  # fmt: skip
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        yield await context.new_page()
        await browser.close()


def gateway_reports(store: Any) -> None:
    """What a running gateway and its scale-out twin would have written: a real reloader, state
    and event writer; a list change refused; an instance silent for five minutes."""
    store.data_dir.mkdir(parents=True, exist_ok=True)
    state = GatewayState()
    writer = EventWriter(store.url, spool_dir=str(store.data_dir / "spool"))
    writer.start()
    try:
        state.sink = writer
        state.live = LivePolicy.load(store.policy)
        reloader = PolicyReloader(
            state.live, status_file=str(store.data_dir / "gateway-status.json"),
            status_extra=state.status,
        )  # fmt: skip
        reloader.write_status()  # the first report: no write rate yet
        for n in range(12):
            state.submit(FlaggedEvent(
                source="gateway", kind="url", action="block", category="extremism",
                severity=3, rule="domain:extremist.example", url="http://extremist.example/",
                host=f"h{n % 5}.extremist.example", user="pupil.heron",
            ))  # fmt: skip
        assert writer.flush(10)
        block = store.policy.parent / "local" / "block.yaml"
        block.write_text(LOCAL_BLOCK + "  - not a domain!\n", encoding="utf-8")
        assert reloader.reload_now().failed  # writes the status, with the refusal
    finally:
        writer.close(10)
    old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    (store.data_dir / "gateway-status-1.json").write_text(json.dumps(
        {"written": old, "stopped": None, "pid": 4242, "policy_version": state.live.current.version}
    ))  # fmt: skip
    now = datetime.now(UTC)
    with store.sessions() as session:
        session.add_all([
            FeedState(feed_url="https://alerts.example/feeds/st-aidans", label="Google Alerts",
                      status="error", error_count=4, failing_since=now - timedelta(hours=3),
                      last_error="HTTP 503 from alerts.example", last_status=503,
                      last_polled_at=now - timedelta(minutes=2),
                      last_success_at=now - timedelta(hours=3)),
            FeedState(feed_url="https://news.example/rss", label="Local news", status="ok",
                      error_count=0, last_success_at=now, last_polled_at=now, last_status=200),
        ])  # fmt: skip
        session.commit()


async def test_it_staff_test_urls_and_read_the_health_page(
    served: str, page: Any, store: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await page.goto(f"{served}/login")
    await page.fill("input[name=username]", "it.staff")
    await page.fill("input[name=password]", store.passwords["it_staff"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served}/dashboard")

    await page.click("nav >> text=Test a URL")
    await page.fill("input[name=url]", "https://www.extremist.example/unit?lesson=3")
    await page.fill("input[name=user]", "pupil.kestrel")
    await page.click("form.tester button[type=submit]")
    await page.wait_for_selector("section.verdict")
    assert (await page.inner_text("section.verdict .act")).strip().lower() == "study"
    verdict = await page.inner_text("section.verdict")
    assert "epq-radicalisation" in verdict and "2 named pupils" in verdict
    assert "pupil.wren" not in verdict
    assert "/local/block.yaml:3" in verdict
    await page.screenshot(path=str(ARTIFACTS / "console-url-tester.png"), full_page=True)

    wrapped = "https://www.google.com/url?q=https://forum.example/threads/9/reply&sa=U"
    await page.fill("input[name=url]", wrapped)
    await page.fill("input[name=user]", "")
    await page.select_option("select[name=group]", "pupils")
    await page.click("form.tester button[type=submit]")
    await page.wait_for_selector("section.verdict")
    assert (await page.inner_text("section.verdict .act")).strip().lower() == "block"
    assert "https://forum.example/threads/9/reply" in await page.inner_text("section.verdict")
    await page.screenshot(path=str(ARTIFACTS / "console-url-tester-unwrapped.png"), full_page=True)

    await page.fill("input[name=url]", "javascript:alert(document.domain)")
    await page.click("form.tester button[type=submit]")
    await page.wait_for_selector(".flash.problem")
    assert "javascript:" in await page.inner_text(".flash.problem")
    assert await page.locator("section.verdict").count() == 0 and dialogs == []

    gateway_reports(store)
    await page.click("nav >> text=Health")
    await page.wait_for_selector("table.parts")
    attention = await page.inner_text("section.attention")
    assert "Gateway instance 1 is down" in attention
    assert "Gateway refused the latest policy change" in attention
    assert "1 of 2 feeds failing" in attention
    body = await page.inner_text("main")
    assert "block.yaml:5" in body and "pupil.heron" not in body
    await page.screenshot(path=str(ARTIFACTS / "console-health.png"), full_page=True)
    await page.click("nav >> text=Dashboard")
    await page.wait_for_selector("text=Health for IT")
    await page.screenshot(path=str(ARTIFACTS / "console-dashboard.png"), full_page=True)
    assert dialogs == []
