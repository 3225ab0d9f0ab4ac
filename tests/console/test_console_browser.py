"""A Prevent lead in a real headless Chromium (Debian's, never a downloaded one): sign in, filter
the queue, open an event, triage it, export CSV; and hostile markup in an event stays inert.

Screenshots of the queue and an event page go to test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.console.app import create_app
from tests.localnet import served as served_app

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
NASTY_URL = 'https://evil.test/"><img src=x onerror=alert(1)><script>alert(2)</script>'
NASTY_TERMS = '<script>alert(3)</script>"><img src=x onerror=alert(4)>'

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture
async def served(store: Any) -> AsyncIterator[str]:
    from monitor.console.settings import ConsoleSettings

    app = create_app(
        ConsoleSettings(cookie_secure=False, session_key="b" * 48),
        store.url, store.policy, store.data_dir,
    )  # fmt: skip
    async with served_app(app) as base:
        yield base


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        context = await browser.new_context(
            accept_downloads=True, viewport={"width": 1280, "height": 900}
        )
        yield await context.new_page()
        await browser.close()


async def _sign_in(page: Any, base: str, store: Any) -> None:
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", "prevent.lead")
    await page.fill("input[name=password]", store.passwords["prevent_lead"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/events")


async def test_lead_signs_in_filters_triages_and_exports(
    served: str, page: Any, store: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    store.add_event(host="kept.test", severity=3, search_terms="history of the troubles")
    store.add_event(host="low.test", severity=1, category="circumvention", kind="circumvention",
                    user="pupil.bob")  # fmt: skip
    store.add_event(host="research.example", severity=4, user="pupil.cat",
                    url="https://research.example/a/very/long/path?with=query&and=more")
    await _sign_in(page, served, store)
    assert await page.locator("table.events tbody tr").count() == 3
    await page.screenshot(path=str(ARTIFACTS / "console-queue.png"), full_page=True)

    await page.select_option("select[name=severity]", "3")
    await page.click("form.filters button[type=submit]")
    await page.wait_for_load_state()
    hosts = await page.locator("table.events tbody td.url a").all_inner_texts()
    assert sorted(hosts) == ["kept.test", "research.example"]

    await page.click("text=kept.test")
    await page.wait_for_selector("form.triage")
    await page.select_option("select[name=status]", "escalated")
    await page.select_option("select[name=assignee]", "prevent.lead")
    await page.fill("textarea[name=note]", "Spoke to the form tutor")
    await page.click("form.triage button[type=submit]")
    await page.wait_for_selector(".flash.ok")
    assert "status escalated" in await page.inner_text(".flash.ok")
    assert "Spoke to the form tutor" in await page.inner_text("table.audit")
    await page.screenshot(path=str(ARTIFACTS / "console-event.png"), full_page=True)

    await page.goto(f"{served}/events?status=escalated")
    await page.check("table.events tbody input[type=checkbox]")
    async with page.expect_download() as download_info:
        await page.click("text=Export ticked events (CSV)")
    download = await download_info.value
    text = Path(await download.path()).read_text()
    assert "kept.test" in text and "escalated" in text and "low.test" not in text


async def test_hostile_markup_renders_inert(served: str, page: Any, store: Any) -> None:
    event = store.add_event(url=NASTY_URL, search_terms=NASTY_TERMS, host="evil.test")
    dialogs: list[str] = []

    async def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        await dialog.dismiss()

    page.on("dialog", on_dialog)
    await _sign_in(page, served, store)
    for path in ["/events", f"/events/{event.event_id}", f"/events/{event.event_id}/print",
                 "/events?q=%3Cscript%3E"]:  # fmt: skip
        await page.goto(served + path)
        await page.wait_for_load_state("load")
        injected = await page.evaluate(
            "() => document.querySelectorAll('img, script, [onerror]').length"
        )
        assert injected == 0, path
    assert "<script>alert(3)</script>" in await page.inner_text("body")  # shown as text
    assert dialogs == []
    await page.screenshot(path=str(ARTIFACTS / "console-event-hostile.png"), full_page=True)
