"""A trust end to end (issue #16): two real gateways configured as two schools write to one real
PostgreSQL, and one console serves both schools, driven in Debian's Chromium.

Each school's Prevent lead sees only their school's events, on the page, in the search and in
the CSV export; the trust lead sees both, and a line per school on the Schools page. The same
pupil address at both schools makes two events (one fold key per school), each with its own
school's name on its block page. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import create_engine, text

from monitor.console.app import create_app
from monitor.console.settings import ConsoleSettings
from monitor.schools import Schools
from monitor.store.accounts import add_user
from monitor.store.database import make_engine, make_sessionmaker, normalise_url
from monitor.store.migrate import upgrade
from tests.gateway.conftest import POLICY_DIR, Proxy
from tests.localnet import served

PG_ENV = "PREVENT_MONITOR_TEST_PG_URL"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCHOOLS = Schools({"north": "Northfield Academy", "south": "Southgate School"}, "north")
# (account, schools); every one a Prevent lead
LEADS = {"north.lead": ("north",), "south.lead": ("south",), "trust.lead": None}
SHARED = "192.168.5.5"  # the same pupil address at both schools: two pupils
ONLY = {"north": "192.168.7.7", "south": "192.168.9.9"}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not os.environ.get(PG_ENV), reason=f"{PG_ENV} is unset"),
    pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed"),
]


@pytest.fixture
def trust_store() -> Iterator[str]:
    """A fresh PostgreSQL schema at the newest revision, with the three leads' accounts."""
    base = normalise_url(os.environ[PG_ENV])
    schema = f"trust_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    rendered = url.render_as_string(hide_password=False)
    upgrade(rendered, default_school="north")
    yield rendered
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def passwords(trust_store: str) -> dict[str, str]:
    engine = make_engine(trust_store)
    with make_sessionmaker(engine)() as session:
        made = {
            name: add_user(session, name, "prevent_lead", change_due=False, schools=schools)
            for name, schools in LEADS.items()
        }
        session.commit()
    engine.dispose()
    return made


@pytest.fixture
def gateways(
    trust_store: str, proxy_factory: Callable[..., Proxy], tmp_path: Path
) -> dict[str, Proxy]:
    """One gateway per school, each with its own school id and name, both on the one store, and
    each with its own policy that extends the trust's (the test policy) with one local list."""
    shutil.copytree(POLICY_DIR, tmp_path / "trust")
    for school in ("north", "south"):
        folder = tmp_path / school
        folder.mkdir()
        (folder / "local.yaml").write_text(f"entries:\n  - {{domain: {school}-local.test}}\n")
        (folder / "policy.yaml").write_text(
            "extends: ../trust/policy.yaml\n"
            f"school: {SCHOOLS.name_of(school)}\n"
            "lists:\n  - {file: local.yaml, category: extremism}\n"
        )
    return {
        school: proxy_factory(
            gateway_policy=tmp_path / school / "policy.yaml",
            gateway_database=trust_store,
            gateway_spool_dir=tmp_path / f"spool-{school}",
            gateway_school_id=school,
            gateway_school=SCHOOLS.name_of(school),
            gateway_trusted_proxies="127.0.0.1",
        )
        for school in ("north", "south")
    }


@pytest.fixture
async def console(trust_store: str, tmp_path: Path) -> AsyncIterator[str]:
    policy = tmp_path / "policy"
    shutil.copytree(POLICY_DIR, policy)
    app = create_app(
        ConsoleSettings(cookie_secure=False, session_key="t" * 48),
        trust_store, policy / "policy.yaml", tmp_path / "data", schools=SCHOOLS,
    )  # fmt: skip
    async with served(app) as base:
        yield base


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        yield chromium
        await chromium.close()


async def visit(
    proxy: Proxy, address: str, path: str, host: str = "www.extremist.test", status: int = 403
) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"http://{host}/{path}", proxy=proxy.url,
            headers={"X-Forwarded-For": address}, allow_redirects=False,
        ) as response,
    ):  # fmt: skip
        assert response.status == status, (host, path, response.status)
        return await response.text()


def stored(url: str, expected: int) -> list[Any]:
    import time

    engine = make_engine(url)
    deadline = time.monotonic() + 15
    rows: list[Any] = []
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            rows = list(conn.execute(text("SELECT school, client_ip FROM events ORDER BY pk")))
        if len(rows) >= expected:
            break
        time.sleep(0.2)
    engine.dispose()
    return rows


async def signed_in_page(browser: Any, base: str, name: str, password: str) -> Any:
    context = await browser.new_context(
        accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    page = await context.new_page()
    await page.goto(f"{base}/login")
    await page.fill("input[name=username]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/events")
    return page


async def exported(page: Any) -> str:
    async with page.expect_download() as download_info:
        await page.click("text=Export all matching (CSV)")
    download = await download_info.value
    return Path(await download.path()).read_text()


async def test_two_gateways_one_postgresql_one_console(
    gateways: dict[str, Proxy], trust_store: str, passwords: dict[str, str], console: str,
    browser: Any,
) -> None:  # fmt: skip
    ARTIFACTS.mkdir(exist_ok=True)
    for school, proxy in gateways.items():
        page = await visit(proxy, SHARED, "shared")
        assert SCHOOLS.name_of(school) in page  # each block page names its own school
        await visit(proxy, ONLY[school], f"{school}-only")
    # The trust's list blocks at both (above); each school's local list only at that school.
    await visit(gateways["north"], ONLY["north"], "local", host="north-local.test")
    await visit(gateways["south"], ONLY["south"], "local", host="north-local.test", status=200)
    rows = stored(trust_store, 5)
    assert sorted((r.school, r.client_ip) for r in rows) == sorted(
        [("north", SHARED), ("south", SHARED), ("north", ONLY["north"]), ("south", ONLY["south"]),
         ("north", ONLY["north"])]
    )  # the shared address folded per school: one event each, never one for both

    for name, sees in (("north.lead", "north"), ("south.lead", "south")):
        other = "south" if sees == "north" else "north"
        page = await signed_in_page(browser, console, name, passwords[name])
        body = await page.inner_text("table.events")
        assert ONLY[sees] in body and SHARED in body and ONLY[other] not in body
        rows_shown = 3 if sees == "north" else 2  # north's own local list made one more
        assert await page.locator("table.events tbody tr").count() == rows_shown
        await page.screenshot(path=str(ARTIFACTS / f"trust-{sees}-queue.png"), full_page=True)
        await page.goto(f"{console}/events?q={ONLY[other]}")
        assert await page.locator("table.events tbody td.url").count() == 0
        await page.goto(f"{console}/events")
        csv_text = await exported(page)
        assert ONLY[sees] in csv_text and ONLY[other] not in csv_text
        assert f",{sees}," in csv_text and f",{other}," not in csv_text

    page = await signed_in_page(browser, console, "trust.lead", passwords["trust.lead"])
    assert await page.locator("table.events tbody tr").count() == 5
    body = await page.inner_text("table.events")
    assert "Northfield Academy" in body and "Southgate School" in body
    await page.screenshot(path=str(ARTIFACTS / "trust-lead-queue.png"), full_page=True)
    await page.goto(f"{console}/trust")
    summary = await page.inner_text("table.trust")
    assert "Northfield Academy" in summary and "Southgate School" in summary
    await page.screenshot(path=str(ARTIFACTS / "trust-schools.png"), full_page=True)
    csv_text = await exported(await _queue(page, console))
    assert ONLY["north"] in csv_text and ONLY["south"] in csv_text


async def _queue(page: Any, base: str) -> Any:
    await page.goto(f"{base}/events")
    return page
