"""The impact preview through the real console: a proposed policy replayed over a small, hand-made
week of the context log and events (real SQLite, a copy of the shipped policy), its progress
page, its result, its save form, and what it refuses."""

from __future__ import annotations

import asyncio
import re
import shutil
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from monitor.console import impactreplay
from monitor.console.app import create_app
from monitor.console.impact import previews, start_preview
from monitor.console.impactfolder import PreviewRefused
from monitor.console.web import CONSOLE, Console
from monitor.events import ContextVisit, utcnow
from monitor.store.contextlog import ContextLog
from monitor.store.database import make_engine

from .conftest import settings

PUPILS = ("pupil.amy", "pupil.ben", "pupil.cat")
SAVE_FIELDS = {"change": "add games.example", "version": "v1"}


def add_context(store: Any, *visits: tuple[float, str, str, str, int]) -> None:
    """(hours ago, identity, host, action, requests) rows in the context log."""
    now = utcnow()
    engine = make_engine(store.url)
    try:
        # The log never raises (context must not stop events): a refused write is only False.
        assert ContextLog().write(
            engine,
            [ContextVisit(now - timedelta(hours=h), who, host, action)
             for h, who, host, action, n in visits for _ in range(n)],
        ), "the context log refused the week's rows (its warning says why)"  # fmt: skip
    finally:
        engine.dispose()


def console_of(client: TestClient[Any, Any]) -> Console:
    return client.server.app[CONSOLE]


async def preview(client: TestClient[Any, Any], proposed: dict[str, str]) -> str:
    return await start_preview(console_of(client), proposed, "/it/lists/save", SAVE_FIELDS)


async def finished_page(client: TestClient[Any, Any], job: str) -> str:
    for _ in range(200):
        response = await client.get(f"/it/impact/{job}")
        assert response.status == 200
        html = await response.text()
        if 'http-equiv="refresh"' not in html:
            return html
        await asyncio.sleep(0.05)
    raise AssertionError("the preview did not finish")


def outcome(client: TestClient[Any, Any], job_id: str) -> str:
    """What a finished preview read and found, for a failure's message."""
    job = previews(console_of(client)).get(job_id)
    assert job is not None
    result = job.result
    found = "no result" if result is None else (
        f"{result.context_rows} context rows, {result.events} events, "
        f"rows {[(r.heading, r.hosts, r.requests) for r in result.rows]}"
    )  # fmt: skip
    return f"state {job.state}, notes {job.notes}, problems {job.problems}: {found}"


def section(html: str, heading: str) -> str:
    """The HTML from an <h2> starting with `heading` to the next <h2> (or the end)."""
    start = html.index(f"<h2>{heading}")
    end = html.find("<h2>", start + 4)
    return html[start : end if end != -1 else len(html)]


@pytest.fixture
def week(store: Any) -> Iterator[Any]:
    """Three pupils' week: games.example (allowed now), research.example (listed, and on the
    allowlist, so allowed for study), extremist.test (blocked: an event and its context rows)
    and one blocked path of paths.example (an event; its host's rows say only "block")."""
    local = store.policy.parent / "local"
    (local / "block.yaml").write_text(
        "category: extremism\nentries:\n  - research.example\n  - extremist.test\n"
        "  - {url: paths.example/forum}\n",
        encoding="utf-8",
    )
    (local / "allow.yaml").write_text("entries:\n  - research.example\n", encoding="utf-8")
    add_context(
        store,
        (30, "user:pupil.amy", "games.example", "allow", 5),
        (29, "user:pupil.amy", "games.example", "allow", 3),
        (50, "user:pupil.ben", "www.games.example", "allow", 2),
        (3, "user:pupil.amy", "research.example", "study", 4),
        (4, "device:laptop-17", "research.example", "study", 1),
        (5, "user:pupil.cat", "other.example", "allow", 6),
        (6, "user:pupil.cat", "extremist.test", "block", 3),
        (7, "user:pupil.cat", "paths.example", "block", 2),
        (24 * 9, "user:pupil.cat", "games.example", "allow", 50),  # older than the week
    )
    for hours, url, host, repeats in (
        (6, "https://extremist.test/x", "extremist.test", 3),
        (7, "https://paths.example/forum/12", "paths.example", 2),
    ):
        when = utcnow() - timedelta(hours=hours)
        store.add_event(
            user="pupil.cat", device="laptop-17", client_ip="10.1.2.3", url=url, host=host,
            last_seen=when, first_seen=when, repeat_count=repeats,
        )  # fmt: skip
    yield store


async def test_a_new_block_entry_shows_its_hosts_requests_and_people(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    await login(client, "it_staff")
    live = week.policy.parent / "local" / "block.yaml"
    before = live.read_text(encoding="utf-8")
    proposed = before.replace("  - extremist.test\n", "  - extremist.test\n  - games.example\n")
    html = await finished_page(client, await preview(client, {"local/block.yaml": proposed}))
    part = section(html, "Newly blocked: extremism (allow → block)")
    assert "2 hosts, 10 requests, 2 people." in part  # amy 5+3, ben 2; not the 9-day-old 50
    assert "<td>games.example</td><td>8</td><td>1</td>" in part
    assert "<td>www.games.example</td><td>2</td><td>1</td>" in part
    assert "<code>local/block.yaml:5</code>" in part  # the proposed line that blocks it
    assert "Newly allowed" not in html
    assert live.read_text(encoding="utf-8") == before  # the live file was never written


async def test_removing_an_allow_entry_shows_study_becoming_block(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    await login(client, "it_staff")
    job = await preview(client, {"local/allow.yaml": "entries: []\n"})
    html = await finished_page(client, job)
    part = section(html, "Newly blocked: extremism (study → block)")
    assert "1 host, 5 requests, 2 people." in part  # pupil.amy and a device, counted not named
    assert "<td>research.example</td><td>5</td><td>2</td>" in part
    assert "<td>games.example" not in html


async def test_no_change_shows_nothing_changed_and_still_offers_the_save(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    csrf = await login(client, "it_staff")
    same = (week.policy.parent / "local" / "block.yaml").read_text(encoding="utf-8")
    html = await finished_page(client, await preview(client, {"local/block.yaml": same}))
    assert "would not have changed what happened to any of these requests" in html
    assert "<h2>" not in html
    assert "8 context-log rows (26 requests) and 2 events (5 visits)" in html
    assert "The context log starts" not in html and "off or empty" not in html
    save = r'<form method="post" action="/it/lists/save" class="impact-save">(.*?)</form>'
    form = re.search(save, html, re.S)
    assert form, html
    assert f'name="csrf_token" value="{csrf}"' in form.group(1)
    assert 'name="change" value="add games.example"' in form.group(1)
    assert 'name="version" value="v1"' in form.group(1)
    assert "Save this change</button>" in form.group(1)


async def test_a_blocked_visit_is_counted_once_from_the_log_not_again_from_its_event(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    await login(client, "prevent_lead")
    text = "category: extremism\nentries:\n  - research.example\n  - {url: paths.example/forum}\n"
    html = await finished_page(client, await preview(client, {"local/block.yaml": text}))
    part = section(html, "Newly allowed: extremism (block → allow)")
    assert "1 host, 3 requests, 1 person." in part  # not 6: the event's 3 visits are the rows'
    assert "<td>extremist.test</td><td>3</td><td>1</td>" in part


async def test_an_event_counts_the_path_the_context_log_cannot_see(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    await login(client, "it_staff")
    text = "category: extremism\nentries:\n  - research.example\n  - extremist.test\n"
    html = await finished_page(client, await preview(client, {"local/block.yaml": text}))
    part = section(html, "Newly allowed: extremism (block → allow)")
    assert "<td>paths.example</td><td>2</td><td>1</td>" in part
    assert "<code>blocklists/local/block.yaml:5</code>" not in part
    assert "<code>local/block.yaml:5</code>" in part  # the live entry that blocked it


async def test_a_visit_blocked_by_its_path_is_not_newly_blocked_when_its_site_is(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    await login(client, "it_staff")
    live = (week.policy.parent / "local" / "block.yaml").read_text(encoding="utf-8")
    proposed = live + "  - paths.example\n"
    html = await finished_page(client, await preview(client, {"local/block.yaml": proposed}))
    assert "would not have changed what happened to any of these requests" in html


@pytest.mark.parametrize("log_from", [None, 1.0])
async def test_events_from_before_the_context_log_are_counted_from_the_events(
    client: TestClient[Any, Any], login: Any, store: Any, log_from: float | None
) -> None:
    """The context log off (no rows), or turned on an hour ago: before it, only the events
    can say anything, and the page says so."""
    local = store.policy.parent / "local"
    (local / "block.yaml").write_text("category: extremism\nentries: [extremist.test]\n")
    when = utcnow() - timedelta(days=2)
    store.add_event(url="https://extremist.test/", host="extremist.test", last_seen=when,
                    first_seen=when, repeat_count=4)  # fmt: skip
    if log_from is not None:
        add_context(store, (log_from, "user:pupil.amy", "fine.example", "allow", 1))
    await login(client, "it_staff")
    html = await finished_page(
        client, await preview(client, {"local/block.yaml": "category: extremism\nentries: []\n"})
    )
    warning = "off or empty for these days" if log_from is None else "The context log starts at"
    assert warning in html
    assert "<td>extremist.test</td><td>4</td><td>1</td>" in section(html, "Newly allowed")


@pytest.mark.parametrize("role", ["it_staff", "prevent_lead"])
async def test_no_pupil_identity_appears_on_the_page(
    client: TestClient[Any, Any], login: Any, week: Any, role: str
) -> None:
    await login(client, role)
    proposed = {
        "local/block.yaml": "category: extremism\nentries:\n  - games.example\n",
        "local/allow.yaml": "entries: []\n",
    }
    job = await preview(client, proposed)
    html = await finished_page(client, job)
    assert "Newly blocked" in html and "Newly allowed" in html, outcome(client, job)
    for identity in (*PUPILS, "laptop-17", "10.1.2.3", "user:", "device:", "address:"):
        assert identity not in html, identity


async def test_a_proposed_policy_with_a_problem_shows_file_line_and_no_save(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    await login(client, "it_staff")
    bad = "category: extremism\nentries:\n  - games.example\n  - {domain: 'no such host!'}\n"
    html = await finished_page(client, await preview(client, {"local/block.yaml": bad}))
    assert "would not load, so it cannot be saved" in html
    assert re.search(r"<code>local/block\.yaml:4: [^<]+</code>", html), html
    assert '<form method="post" action="/it/lists/save"' not in html
    assert "Save this change</button>" not in html
    assert str(week.data_dir) not in html  # problems name the policy's files, not the copy


async def test_the_progress_page_then_the_result(
    client: TestClient[Any, Any], login: Any, week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = threading.Event()
    counted = impactreplay.recorded_period

    def held(*args: Any) -> Any:
        gate.wait(10)
        return counted(*args)

    monkeypatch.setattr(impactreplay, "recorded_period", held)
    await login(client, "it_staff")
    job = await preview(client, {"local/allow.yaml": "entries: []\n"})
    html = await (await client.get(f"/it/impact/{job}")).text()
    assert '<meta http-equiv="refresh" content="1">' in html
    assert re.search(r'<progress class="impact" value="0\.000" max="1">0%</progress>', html)
    assert "Save this change</button>" not in html and "<script" not in html
    gate.set()
    html = await finished_page(client, job)
    assert "Newly blocked: extremism (study → block)" in html
    assert "<progress" not in html and 'http-equiv="refresh"' not in html


HOSTILE_NAMES = (
    "../x", "/etc/passwd", "local/../../x", "local\\..\\x", ".git/config", "", "a/./b",
    "local/\x00x", "~/x", "local/" + "x" * 300,
)  # fmt: skip


async def test_a_path_outside_the_policy_folder_is_refused(
    client: TestClient[Any, Any], week: Any
) -> None:
    for name in HOSTILE_NAMES:
        with pytest.raises(PreviewRefused):
            await preview(client, {name: "entries: []\n"})
    with pytest.raises(PreviewRefused):
        await preview(client, {"local/allow.yaml": "\ud800"})  # not Unicode
    for save_url in ("https://evil.example/", "//evil.example/", "javascript:x", "/a b"):
        with pytest.raises(PreviewRefused):
            await start_preview(console_of(client), {}, save_url, {})
    with pytest.raises(PreviewRefused):
        await start_preview(console_of(client), {}, "/save", {"csrf_token": "mine"})
    assert len(previews(console_of(client))) == 0  # nothing was started


async def test_a_link_in_the_policy_folder_is_never_written_through(
    client: TestClient[Any, Any], login: Any, week: Any, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "list.yaml").write_text("entries: []\n", encoding="utf-8")
    (week.policy.parent / "local" / "linked.yaml").symlink_to(outside / "list.yaml")
    (week.policy.parent / "local" / "linked").symlink_to(outside)
    await login(client, "it_staff")
    await finished_page(client, await preview(client, {"local/linked.yaml": "entries: [x]\n"}))
    (week.policy.parent / "local" / "broken").symlink_to(outside / "gone")
    for name in ("local/linked/new.yaml", "local/linked/sub/new.yaml", "local/broken/x.yaml"):
        html = await finished_page(client, await preview(client, {name: "entries: [x]\n"}))
        assert "its folder is a link out of the policy folder" in html, name
        assert "Save this change</button>" not in html
    assert sorted(p.name for p in outside.iterdir()) == ["list.yaml"]
    assert (outside / "list.yaml").read_text(encoding="utf-8") == "entries: []\n"


async def test_roles_and_unknown_previews(
    client: TestClient[Any, Any], login: Any, week: Any
) -> None:
    job = await preview(client, {"local/allow.yaml": "entries: []\n"})
    await login(client, "comms")
    assert (await client.get(f"/it/impact/{job}")).status == 403
    await client.post("/logout", data={"csrf_token": await _csrf(client)})
    await login(client, "it_staff")
    assert (await client.get("/it/impact/not-a-job")).status == 404
    assert (await client.get(f"/it/impact/{job}")).status == 200


async def _csrf(client: TestClient[Any, Any]) -> str:
    html = await (await client.get("/mentions")).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.e2e
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} is not installed")
async def test_in_chromium_the_progress_page_becomes_the_result_by_itself(
    week: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No script: the page refreshes itself (meta refresh, allowed by the CSP) until the result
    is there, and the save form posts the editor's fields with the CSRF token."""
    from playwright.async_api import async_playwright

    gate = threading.Event()
    counted = impactreplay.recorded_period
    monkeypatch.setattr(impactreplay, "recorded_period", lambda *a: gate.wait(10) and counted(*a))
    app = create_app(settings(), week.url, week.policy, week.data_dir)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    base = f"http://{host}:{port}"
    ARTIFACTS.mkdir(exist_ok=True)
    posted: list[str] = []
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            errors: list[str] = []
            page.on(
                "console",
                lambda m: errors.append(f"{m.text} {m.location}") if m.type == "error" else None,
            )
            await page.goto(f"{base}/login")
            await page.fill("input[name=username]", "it.staff")
            await page.fill("input[name=password]", week.passwords["it_staff"])
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{base}/dashboard")
            proposed = {"local/allow.yaml": "entries: []\n",
                        "local/block.yaml": week_block(week) + "  - games.example\n"}  # fmt: skip
            job = await start_preview(app[CONSOLE], proposed, "/it/lists/save", SAVE_FIELDS)
            await page.goto(f"{base}/it/impact/{job}")
            assert await page.locator("progress.impact").count() == 1
            await page.screenshot(path=str(ARTIFACTS / "console-impact-progress.png"))
            gate.set()
            await page.wait_for_selector("button:has-text('Save this change')", timeout=15_000)
            assert "Newly blocked" in await page.inner_text("main")
            await page.screenshot(path=str(ARTIFACTS / "console-impact-result.png"), full_page=True)

            async def capture(route: Any) -> None:
                posted.append(route.request.post_data or "")
                await route.fulfill(status=200, body="saved")

            await page.route("**/it/lists/save", capture)
            await page.click("button:has-text('Save this change')")
            await page.wait_for_selector("text=saved")
            # No CSP violation and nothing failed to load (but the favicon the console has not).
            assert [e for e in errors if "/favicon.ico" not in e] == []
            await browser.close()
    finally:
        await runner.cleanup()
    fields = dict(field.split("=", 1) for field in posted[0].split("&"))
    assert fields["change"] == "add+games.example" and fields["version"] == "v1"
    assert len(fields["csrf_token"]) > 20


def week_block(store: Any) -> str:
    return (store.policy.parent / "local" / "block.yaml").read_text(encoding="utf-8")
