"""IT staff in a real headless Chromium (Debian's, never a downloaded one): add a block entry
with a reason, see it in the policy history with its diff, and roll it back; the gateway's hot
reload follows each step. Screenshots go to test-artifacts/ for a person to look at."""

from __future__ import annotations

import shutil
from typing import Any

import pytest
import yaml

from filters.live import LivePolicy
from tests.console.test_console_browser import ARTIFACTS, CHROMIUM
from tests.console.test_console_browser import page as page  # the Chromium fixture
from tests.console.test_console_browser import served as served  # the console on a free port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


async def test_it_staff_add_a_block_entry_see_its_diff_and_roll_it_back(
    served: str, page: Any, store: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    live = LivePolicy.load(store.policy)
    assert live.current.decide("http://forum.bad.example/").action.value == "allow"
    await page.goto(f"{served}/login")
    await page.fill("input[name=username]", "it.staff")
    await page.fill("input[name=password]", store.passwords["it_staff"])
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served}/dashboard")

    await page.click("nav >> text=Lists")
    await page.wait_for_selector("table.lists")
    await page.screenshot(path=str(ARTIFACTS / "listedit-lists.png"), full_page=True)
    await page.click("table.lists tr:has-text('local/block.yaml') >> text=Edit")
    await page.fill("input[name=add_value]", "https://bad.example/")
    await page.fill("input[name=add_note]", "CTIRU referral 2026-114")
    await page.fill("textarea[name=reason]", "Reported by the Prevent lead after a search")
    await page.click("text=Save the change")
    await page.wait_for_selector(".flash.ok")
    assert "Saved as version 2: added bad.example" in await page.inner_text(".flash.ok")
    assert "bad.example" in await page.inner_text("table.entries")
    await page.screenshot(path=str(ARTIFACTS / "listedit-saved.png"), full_page=True)
    assert live.reload().changed
    assert live.current.decide("http://forum.bad.example/").action.value == "block"

    await page.click("nav >> text=Policy history")
    row = page.locator("table.versions tbody tr").first
    assert "it.staff" in await row.inner_text()
    assert "Reported by the Prevent lead" in await row.inner_text()
    await page.screenshot(path=str(ARTIFACTS / "listedit-history.png"), full_page=True)
    await row.locator("a").first.click()
    await page.wait_for_selector("pre.diff")
    added = " ".join(await page.locator("pre.diff .d-add").all_inner_texts())
    assert "bad.example" in added and "CTIRU referral 2026-114" in await page.inner_text("pre.diff")
    await page.screenshot(path=str(ARTIFACTS / "listedit-diff.png"), full_page=True)

    await page.click("text=Version 1")
    await page.fill("form.rollback textarea[name=reason]", "Listed by mistake: wrong site")
    await page.click("form.rollback button[type=submit]")
    await page.wait_for_selector(".flash.ok")
    assert "Rolled back to version 1 as version 3" in await page.inner_text(".flash.ok")
    assert "bad.example" in " ".join(await page.locator("pre.diff .d-del").all_inner_texts())
    await page.screenshot(path=str(ARTIFACTS / "listedit-rolled-back.png"), full_page=True)
    block = yaml.safe_load((store.policy.parent / "local/block.yaml").read_text())
    assert block["entries"] == []
    assert live.reload().changed
    assert live.current.decide("http://forum.bad.example/").action.value == "allow"

    await page.click("nav >> text=Lists")
    await page.click("text=Category actions per group")
    await page.wait_for_selector("section.group")
    await page.screenshot(path=str(ARTIFACTS / "listedit-groups.png"), full_page=True)
