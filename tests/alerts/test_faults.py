"""Bad input and faults (issue 5), one test each. Every test ends the same way: the feed's state
is recorded in the store and shown in the digest, nothing crashed, and nothing was fetched that
should not have been."""

from __future__ import annotations

import asyncio
import gzip
import io
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import feedparser
from aiohttp import web
from sqlalchemy import select

from alerts.feeds import read_feed
from alerts.watcher import PollReport, Watcher
from filters.policy import Policy
from monitor.store.models import BrandMention, FeedState
from monitor.store.runner import Store
from tests.alerts.conftest import FeedServer, digest_text, watcher_settings
from tests.alerts.feeds import SCHOOL, Item, google_alerts, talkwalker

LABEL = "Fault feed"


async def poll(store: Store, policy: Policy, url: str, **settings: object) -> PollReport:
    watcher = Watcher(
        watcher_settings(sources=[{"url": url, "label": LABEL, "kind": "rss"}], **settings),
        lambda: policy,
        store,
        school=SCHOOL,
    )
    [report] = await watcher.poll_once()
    return report


def state_of(store: Store, url: str) -> FeedState:
    with store.sessions() as session:
        state = session.scalar(select(FeedState).where(FeedState.feed_url == url))
    assert state is not None, "the feed's state must be recorded"
    return state


def stored_mentions(store: Store) -> list[BrandMention]:
    with store.sessions() as session:
        return list(session.scalars(select(BrandMention)))


async def assert_failing(store: Store, url: str, *words: str) -> FeedState:
    """The feed is recorded as failing with `words` in its error, and the digest says so."""
    state = state_of(store, url)
    assert state.status == "error", (state.status, state.last_error)
    for word in words:
        assert word in (state.last_error or ""), state.last_error
    assert state.failing_since is not None and state.error_count >= 1
    assert state.next_poll_at is not None and state.next_poll_at > state.last_polled_at  # type: ignore[operator]
    text, html = await digest_text(store)
    assert "FAILING" in text and LABEL in text and words[0] in text
    assert "feed failing" in html and LABEL in html
    return state


ONE = [Item(f"{SCHOOL} fair", "https://news.example/fair")]


async def test_304_not_modified(feed_server: FeedServer, store: Store, policy: Policy) -> None:
    body = talkwalker(ONE)
    served = []

    async def handler(request: web.Request) -> web.Response:
        served.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"abc"':
            return web.Response(status=304, headers={"ETag": '"abc"'})
        return web.Response(
            body=body, content_type="application/rss+xml", headers={"ETag": '"abc"'}
        )

    feed_server.routes["/feed"] = handler
    url = feed_server.url("/feed")
    await poll(store, policy, url)
    report = await poll(store, policy, url)
    assert served == [None, '"abc"']
    assert report.status == "ok" and "304" in report.summary and report.new_mentions == 0
    state = state_of(store, url)
    assert (state.status, state.etag, state.last_status) == ("ok", '"abc"', 304)
    assert len(stored_mentions(store)) == 1
    text, _ = await digest_text(store)
    assert "1 feed working normally" in text and "FAILING" not in text


async def test_429_with_http_date_retry_after(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    later = datetime.now(UTC) + timedelta(hours=5)
    url = feed_server.serve(
        "/feed", b"slow down", status=429, **{"Retry-After": format_datetime(later, usegmt=True)}
    )
    report = await poll(store, policy, url)
    assert report.status == "error"
    state = await assert_failing(store, url, "HTTP 429", "retry after")
    assert state.last_status == 429
    # Five hours asked for: longer than the back-off (one interval), and honoured.
    assert state.next_poll_at is not None
    assert abs((state.next_poll_at - later).total_seconds()) < 5


async def test_500_backs_off_exponentially_and_never_gives_up(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    url = feed_server.serve("/feed", b"oops", status=500)
    gaps = []
    for _ in range(7):
        await poll(store, policy, url)
        state = state_of(store, url)
        gaps.append(round((state.next_poll_at - state.last_polled_at).total_seconds() / 3600, 2))  # type: ignore[operator]
    assert gaps == [1, 2, 4, 8, 16, 24, 24]  # hours: doubling from the interval, capped at a day
    state = await assert_failing(store, url, "HTTP 500")
    assert state.error_count == 7
    assert len(feed_server.seen) == 7


async def test_server_stalls_mid_body(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    body = talkwalker(ONE)

    async def stall(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        await asyncio.sleep(30)
        return response

    feed_server.routes["/feed"] = stall
    url = feed_server.url("/feed")
    started = time.monotonic()
    report = await poll(store, policy, url, read_timeout=0.5, total_timeout=5.0)
    assert time.monotonic() - started < 4
    assert report.status == "error"
    await assert_failing(store, url, "timed out")
    assert stored_mentions(store) == []


async def test_gzip_bomb(feed_server: FeedServer, store: Store, policy: Policy) -> None:
    bomb = gzip.compress(b"<rss>" + b" " * 200_000_000, compresslevel=9)  # 200 MB in ~200 KB
    url = feed_server.serve("/feed", bomb, **{"Content-Encoding": "gzip"})
    tracemalloc.start()
    try:
        report = await poll(store, policy, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.status == "error"
    assert peak < 20_000_000, f"peak {peak:,} bytes: the bomb was expanded"
    await assert_failing(store, url, "larger than 1,000,000 bytes once decompressed")


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "lol">'
    + b"".join(
        f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(9)
    )
    + b']><rss version="2.0"><channel><title>&j;</title><item><title>'
    + SCHOOL.encode()
    + b" &j;</title><link>https://news.example/x</link></item></channel></rss>"
)


async def test_billion_laughs(feed_server: FeedServer, store: Store, policy: Policy) -> None:
    url = feed_server.serve("/feed", BILLION_LAUGHS)
    started = time.monotonic()
    tracemalloc.start()
    try:
        report = await poll(store, policy, url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 2
    assert peak < 10_000_000
    assert report.status == "error"
    await assert_failing(store, url, "declares XML entities")
    assert stored_mentions(store) == []


def xxe(path: Path) -> bytes:
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY secret SYSTEM "file://{path}">]>'
        '<rss version="2.0"><channel><title>x</title><item>'
        f"<title>{SCHOOL} &secret;</title><link>https://news.example/x</link>"
        "<description>&secret;</description></item></channel></rss>"
    ).encode()


async def test_external_entity_file_read(
    feed_server: FeedServer, store: Store, policy: Policy, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("CONFIDENTIAL-pupil-list-7731")
    url = feed_server.serve("/feed", xxe(secret))
    report = await poll(store, policy, url)
    assert report.status == "error"
    state = await assert_failing(store, url, "declares XML entities")
    text, html = await digest_text(store)
    assert "CONFIDENTIAL" not in text + html + (state.last_error or "")
    assert stored_mentions(store) == []
    # Defence in depth: even without the check, feedparser (from bytes) does not read the file.
    parsed = feedparser.parse(io.BytesIO(xxe(secret)))
    assert "CONFIDENTIAL" not in repr(parsed)
    # And a body naming a local file is a broken feed, not that file's contents.
    assert read_feed(str(secret).encode()).error is not None


async def test_empty_200(feed_server: FeedServer, store: Store, policy: Policy) -> None:
    url = feed_server.serve("/feed", b"")
    report = await poll(store, policy, url)
    assert report.status == "error"
    await assert_failing(store, url, "empty body")


async def test_html_login_page(feed_server: FeedServer, store: Store, policy: Policy) -> None:
    page = (
        b"<!DOCTYPE html><html><head><title>Sign in - Alerts</title></head><body><form>"
        b"<input name=user><input type=password name=pw></form></body></html>"
    )
    url = feed_server.serve("/feed", page, content_type="text/html; charset=utf-8")
    report = await poll(store, policy, url)
    assert report.status == "error"
    await assert_failing(store, url, "HTML page", "Sign in - Alerts")


async def test_utf8_declared_cp1252_bytes(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    body = talkwalker(
        [Item("St Aidan’s Academy café reopens – “at last”", "https://news.example/cafe")]
    )
    body = body.decode("utf-8").encode("cp1252")  # still declares UTF-8
    url = feed_server.serve("/feed", body)
    report = await poll(store, policy, url)
    assert report.status == "warning" and report.new_mentions == 1
    [mention] = stored_mentions(store)
    assert mention.title == "St Aidan’s Academy café reopens – “at last”"
    state = state_of(store, url)
    assert state.status == "warning" and "declared encoding" in (state.last_error or "")
    text, html = await digest_text(store)
    assert "With warnings" in text and "declared encoding" in text and LABEL in html


async def test_feed_cut_off_mid_entry(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    whole = talkwalker([*ONE, Item(f"{SCHOOL} second story", "https://news.example/second")])
    url = feed_server.serve("/feed", whole[: whole.index(b"second story") + 5])
    report = await poll(store, policy, url)
    assert report.status == "error"
    await assert_failing(store, url, "not well-formed")
    assert stored_mentions(store) == []  # nothing from a half feed: the next poll gets it whole


async def test_redirect_to_loopback_refused(
    feed_server: FeedServer, internal_server: FeedServer, store: Store, policy: Policy
) -> None:
    internal_server.serve("/admin", talkwalker(ONE))
    url = feed_server.serve("/feed", b"", status=302, Location=internal_server.url("/admin"))
    report = await poll(store, policy, url)
    assert report.status == "error"
    await assert_failing(store, url, "refused to connect to 127.0.0.1", "loopback")
    assert internal_server.seen == []  # never reached
    assert feed_server.paths() == ["/feed"]


async def test_redirect_to_loopback_by_name_refused_at_connect(
    feed_server: FeedServer, internal_server: FeedServer, store: Store, policy: Policy
) -> None:
    internal_server.serve("/admin", talkwalker(ONE))
    target = f"http://localhost:{internal_server.port}/admin"
    url = feed_server.serve("/feed", b"", status=301, Location=target)
    report = await poll(store, policy, url)
    assert report.status == "error"
    await assert_failing(store, url, "refused to connect to localhost", "loopback")
    assert internal_server.seen == []


async def test_redirect_to_metadata_service_refused(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    url = feed_server.serve(
        "/feed", b"", status=307, Location="http://169.254.169.254/latest/meta-data/"
    )
    started = time.monotonic()
    report = await poll(store, policy, url, connect_timeout=10.0, total_timeout=20.0)
    assert time.monotonic() - started < 1  # refused before any connection attempt
    assert report.status == "error"
    await assert_failing(store, url, "refused to connect to 169.254.169.254", "link-local")


async def test_private_feed_url_refused_unless_allowed(
    internal_server: FeedServer, store: Store, policy: Policy
) -> None:
    url = internal_server.serve("/feed", talkwalker(ONE))
    report = await poll(store, policy, url)
    assert report.status == "error" and internal_server.seen == []
    await assert_failing(store, url, "refused", "loopback")
    report = await poll(store, policy, url, allow_private_addresses=True)
    assert report.status == "ok" and internal_server.paths() == ["/feed"]


async def test_redirect_to_other_scheme_refused(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    url = feed_server.serve("/feed", b"", status=302, Location="file:///etc/passwd")
    report = await poll(store, policy, url)
    assert report.status == "error"
    await assert_failing(store, url, "only http and https")


async def test_javascript_link_entry(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    items = [
        Item(f"{SCHOOL} click me", "javascript:fetch('//internal.test/steal')"),
        Item(f"{SCHOOL} data link", "data:text/html,<script>alert(1)</script>"),
        *ONE,
    ]
    url = feed_server.serve("/feed", talkwalker(items))
    report = await poll(store, policy, url)
    assert report.status == "ok" and "2 skipped (no usable http(s) link)" in report.summary
    assert [m.url for m in stored_mentions(store)] == ["https://news.example/fair"]
    assert feed_server.paths() == ["/feed"]
    state = state_of(store, url)
    assert "2 skipped" in (state.last_summary or "")
    text, _ = await digest_text(store)
    assert "javascript" not in text and "1 feed working normally" in text


async def test_duplicate_and_missing_ids(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    items = [
        Item(f"{SCHOOL} story one", "https://news.example/one", id="same-id"),
        Item(f"{SCHOOL} story two", "https://news.example/two", id="same-id"),
        Item(f"{SCHOOL} story three", "https://news.example/three", id=""),
        Item(f"{SCHOOL} story three again", "https://news.example/three?utm_source=x", id=""),
    ]
    url = feed_server.serve("/feed", google_alerts(items))
    report = await poll(store, policy, url)
    assert report.status == "ok"
    urls = sorted(m.url for m in stored_mentions(store))
    # The second "same-id" entry is a duplicate of the first in this feed; the id-less entries
    # fall back to their canonical link, which is the same article.
    assert urls == ["https://news.example/one", "https://news.example/three"]
    again = await poll(store, policy, url)
    assert again.new_mentions == 0
    state = state_of(store, url)
    assert state.status == "ok"
    text, _ = await digest_text(store)
    assert "story one" in text and "story three" in text and "story two" not in text
