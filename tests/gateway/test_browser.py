"""A pupil's browser: Debian's Chromium (never a downloaded one), through a real mitmdump with the
gateway addon, trusting the gateway's generated CA by its public key (as a school device with
the CA deployed does). A blocked HTTPS site shows the block page, with the reason and the
reference, and its "Ask for a review" link opens the console's form through the gateway.

Set PREVENT_MONITOR_SCREENSHOTS to a folder to keep a screenshot of the page for a person.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.gateway.conftest import Origin, Proxy

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


def spki_hash(ca_file: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)) of the CA: what Chromium is told to trust."""
    key = x509.load_pem_x509_certificate(ca_file.read_bytes()).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


async def test_blocked_https_site_shows_the_block_page_in_chromium(
    proxy: Proxy, origin: Origin
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--headless",
                  "--disable-background-networking", "--disable-component-update",
                  f"--proxy-server={proxy.url}",
                  f"--ignore-certificate-errors-spki-list={spki_hash(proxy.ca)}"],
        )  # fmt: skip
        try:
            page: Any = await browser.new_page(viewport={"width": 1000, "height": 800})
            response = await page.goto("https://extremist.test/forum/thread-1")
            assert response is not None and response.status == 403
            text = await page.inner_text("main")
            assert "This page is blocked" in text
            assert "https://extremist.test/forum/thread-1" in text
            assert "terrorist or extremist material" in text  # the category, in words
            assert "is listed as terrorist or extremist material" in text  # the reason
            reference = (await page.inner_text("code")).strip()
            [event] = proxy.events(f"event_id = '{reference}'")
            assert (event["action"], event["host"]) == ("block", "extremist.test")
            folder = os.environ.get("PREVENT_MONITOR_SCREENSHOTS")
            if folder:
                await page.screenshot(path=str(Path(folder) / "https-block-page.png"))
            assert ("extremist.test", "/forum/thread-1") not in origin.seen
            # "Ask for a review" opens the console's form, through the gateway, unfiltered.
            await page.click("text=Ask for a review")
            await page.wait_for_load_state()
            assert "origin says hello: /request-review?" in await page.inner_text("body")
            assert any(
                host.startswith("console.test") and f"ref={reference}" in path
                for host, path in origin.seen
            )
            assert proxy.events("host = 'console.test'", at_least=1, timeout=1) == []
        finally:
            await browser.close()
