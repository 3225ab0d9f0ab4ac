"""The watcher end to end: real feeds over HTTP, the real store, real events and real email."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.watcher import Watcher
from filters.policy import Policy
from monitor.store.models import BrandMention, BrandSighting, Event, FeedState
from monitor.store.runner import Store
from monitor.store.writer import EventWriter
from tests.alerts.conftest import (
    FeedServer,
    MailServer,
    digest_text,
    mailer,
    parts,
    watcher_settings,
)
from tests.alerts.feeds import (
    GOOGLE_ALERTS_FIXTURE,
    SCHOOL,
    Item,
    bing_news,
    google_alerts,
    google_news,
    talkwalker,
)


def mentions(store: Store) -> list[BrandMention]:
    with store.sessions() as session:
        return list(session.scalars(select(BrandMention).order_by(BrandMention.id)))


def feed_state(store: Store, url: str) -> FeedState:
    with store.sessions() as session:
        state = session.scalar(select(FeedState).where(FeedState.feed_url == url))
        assert state is not None
        return state


def make_watcher(
    store: Store, policy: Policy, sources: list[dict[str, str]], **kw: object
) -> Watcher:
    settings = watcher_settings(
        sources=sources, **{k: v for k, v in kw.items() if k not in ("writer", "mailer")}
    )
    return Watcher(
        settings,
        lambda: policy,
        store,
        school=SCHOOL,
        writer=kw.get("writer"),
        mailer=kw.get("mailer"),  # type: ignore[arg-type]
    )


async def test_real_google_alerts_capture(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    """The real 2019 Google Alerts feed, watched for the brand it was made for ("Slack")."""
    url = feed_server.serve("/alerts/feeds/1/2", GOOGLE_ALERTS_FIXTURE.read_bytes())
    watcher = make_watcher(
        store,
        policy,
        [{"url": url, "label": "Google Alert - Slack", "kind": "google-alerts"}],
        brand_terms=["Slack"],
        parse_workers=1,  # parsed in a separate process, as the daemon does
        exclude_terms=[],
    )
    [report] = await watcher.poll_once()
    assert report.status == "ok", report
    found = mentions(store)
    assert 15 <= len(found) <= 20  # a few entries say "slack" only in the linked page
    for mention in found:
        assert "google.com/url" not in mention.url  # unwrapped
        assert mention.url.startswith(("https://", "http://")) and "&ct=ga" not in mention.url
        assert "<b>" not in (mention.title or "") and "&nbsp;" not in (mention.snippet or "")
        assert "\u00a0" not in (mention.snippet or "")
    urls = {m.url for m in found}
    assert "https://investorplace.com/2019/07/slack-stock-truly-compelling/" in urls
    assert any(
        m.title == "Slack Stock Has a Compelling Story and the Numbers to Back It Up" for m in found
    )
    # Only the feed was fetched: never an article.
    assert feed_server.paths() == ["/alerts/feeds/1/2"]
    assert "20 entries" in (feed_state(store, url).last_summary or "")


async def test_provider_shapes_and_cross_feed_dedupe(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    story = Item(
        f"{SCHOOL} pupils win regional robotics final",
        "https://news.example/2025/robotics-final?utm_source=rss&utm_medium=feed",
        snippet=f"Year 9 pupils from {SCHOOL}, Exampleton, took the trophy.",
    )
    other = Item(
        f"{SCHOOL}’s new library opens",
        "https://Local.Example/library#top",
        snippet="The head teacher cut the ribbon.",
    )
    sources = [
        {
            "url": feed_server.serve("/ga", google_alerts([story, other])),
            "label": "Google Alerts",
            "kind": "google-alerts",
        },
        {
            "url": feed_server.serve("/bing", bing_news([story])),
            "label": "Bing News",
            "kind": "bing-news",
        },
        {
            "url": feed_server.serve("/gn", google_news([story])),
            "label": "Google News",
            "kind": "google-news",
        },
        {
            "url": feed_server.serve("/tw", talkwalker([story, other])),
            "label": "Talkwalker",
            "kind": "talkwalker",
        },
    ]
    watcher = make_watcher(store, policy, sources)
    reports = await watcher.poll_once()
    assert [r.status for r in reports] == ["ok"] * 4, reports
    found = mentions(store)
    by_url = {m.url: m for m in found}
    # The same article in Google Alerts, Bing and Talkwalker is one mention seen three times;
    # Google News's opaque token cannot be decoded, so it is a mention of its own.
    robotics = by_url["https://news.example/2025/robotics-final"]
    assert robotics.seen_count == 3
    assert by_url["https://local.example/library"].seen_count == 2
    google = [m for m in found if m.url.startswith("https://news.google.com/rss/articles/")]
    assert len(google) == 1 and "oc=5" not in google[0].url
    assert google[0].publisher == "Exampleton News (https://news.example/)"
    assert len(found) == 3
    with store.sessions() as session:
        assert session.query(BrandSighting).count() == 6

    # A second poll: Bing's tid changed, Google Alerts ids are the same; nothing is new.
    feed_server.serve("/bing", bing_news([story], tid="ffee0099"))
    reports = await watcher.poll_once()
    assert sum(r.new_mentions for r in reports) == 0
    assert len(mentions(store)) == 3


async def test_flagged_mention_event_and_immediate_email(
    feed_server: FeedServer,
    store: Store,
    policy: Policy,
    smtp: MailServer,
    database_url: str,
    tmp_path: object,
) -> None:
    items = [
        Item(
            f"Forum thread names {SCHOOL}",
            "https://www.extremist.test/thread/12",
            snippet=f"Users posted about {SCHOOL} pupils.",
        ),
        Item(
            f"{SCHOOL} rally planned by Zorblax Front",
            "https://blog.example/post",
            snippet="A fictional group plans a rally.",
        ),
        Item(
            f"{SCHOOL} wins at chess",
            "https://news.example/chess",
            snippet="Far away from this, in another story altogether, the Zorblax Front was "
            "mentioned by someone at a completely different event in a distant town.",
        ),
        Item(f"{SCHOOL} on a watched site", "https://watched.test/page"),
        Item(f"{SCHOOL} sports day photos", "https://social.example/p/1"),
    ]
    url = feed_server.serve("/ga", google_alerts(items))
    writer = EventWriter(database_url, spool_dir=str(tmp_path) + "/spool")
    writer.start()
    try:
        watcher = make_watcher(
            store,
            policy,
            [{"url": url, "label": "Google Alerts", "kind": "google-alerts"}],
            writer=writer,
            mailer=mailer(smtp),
        )
        [report] = await watcher.poll_once()
        assert writer.flush(5)
    finally:
        writer.close(5)
    assert report.flagged == 2
    by_url = {m.url: m for m in mentions(store)}
    site = by_url["https://www.extremist.test/thread/12"]
    assert (site.severity, site.category) == (3, "extremism")
    assert "extremist.test" in (site.reason or "") and "extremism.domains:2" in (
        site.rule_source or ""
    )
    phrase = by_url["https://blog.example/post"]
    assert (phrase.severity, phrase.category) == (3, "proscribed") and "zorblax front" in (
        phrase.reason or ""
    )
    assert by_url["https://news.example/chess"].severity == 0  # the phrase was far from the name
    assert by_url["https://watched.test/page"].severity == 1
    assert by_url["https://social.example/p/1"].severity == 0  # an allow category: context only
    assert by_url["https://social.example/p/1"].category == "social"
    assert site.alerted_at is not None and phrase.alerted_at is not None
    assert by_url["https://watched.test/page"].alerted_at is None

    with Session(store.sessions.kw["bind"]) as session:
        events = list(session.scalars(select(Event).order_by(Event.pk)))
    assert {(e.source, e.kind, e.action, e.severity) for e in events} == {
        ("brand-watch", "mention", "flag", 3)
    }
    assert {e.event_id for e in events} == {site.event_id, phrase.event_id}

    # One immediate email to the Prevent lead, with both, and a text and an HTML part.
    assert len(smtp.inbox.messages) == 1
    message = smtp.inbox.messages[0]
    assert smtp.inbox.envelopes[0][1] == ["dsl@school.example"]
    assert "[Prevent] HIGH" in message["Subject"]
    text, html = parts(message)
    assert "https://www.extremist.test/thread/12" in text and "zorblax front" in text
    assert "extremist.test" in html and "<script" not in html
    # The articles were never fetched.
    assert feed_server.paths() == ["/ga"]

    # A second poll sends nothing again.
    await watcher.poll_once()
    assert len(smtp.inbox.messages) == 1


async def test_alert_kept_until_the_mail_goes(
    feed_server: FeedServer, store: Store, policy: Policy, smtp: MailServer
) -> None:
    url = feed_server.serve(
        "/ga", google_alerts([Item(f"{SCHOOL} on a hate forum", "https://hate-forum.example/t/1")])
    )
    down = mailer(smtp, smtp_port=1)  # nothing listens there
    watcher = make_watcher(
        store, policy, [{"url": url, "label": "GA", "kind": "google-alerts"}], mailer=down
    )
    await watcher.poll_once()
    assert down.last_error and mentions(store)[0].alerted_at is None
    watcher.mailer = mailer(smtp)
    assert await watcher.send_alerts() == 1
    assert len(smtp.inbox.messages) == 1 and mentions(store)[0].alerted_at is not None


async def test_namesake_and_spelling(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    items = [
        Item("ST AIDANS ACADEMY, EXAMPLETON: OFSTED GOOD", "https://news.example/a"),
        Item("St. Áidan’s Academy’s choir on tour", "https://news.example/b"),
        Item("St Aidan's Academy in Darlingford closes", "https://news.example/c"),
        Item("St Aidan's Academymoor opens", "https://news.example/d"),
        Item("Weather for Exampleton", "https://news.example/e"),
    ]
    url = feed_server.serve("/tw", talkwalker(items))
    watcher = make_watcher(store, policy, [{"url": url, "label": "TW", "kind": "talkwalker"}])
    [report] = await watcher.poll_once()
    assert sorted(m.url for m in mentions(store)) == [
        "https://news.example/a",
        "https://news.example/b",
    ]
    assert "1 about a namesake" in report.summary and "2 not naming it" in report.summary


async def test_state_survives_restart(
    feed_server: FeedServer, engine: object, policy: Policy
) -> None:
    from sqlalchemy import Engine

    assert isinstance(engine, Engine)
    body = talkwalker([Item(f"{SCHOOL} fair", "https://news.example/fair")])
    url = feed_server.serve(
        "/tw", body, ETag='"v1"', **{"Last-Modified": "Mon, 03 Mar 2025 10:00:00 GMT"}
    )
    source = [{"url": url, "label": "TW", "kind": "talkwalker"}]
    first = Store(engine)
    await make_watcher(first, policy, source).poll_once()
    first.close()

    second = Store(engine)  # a restart: new store object, new watcher, same database
    [report] = await make_watcher(second, policy, source).poll_once()
    second.close()
    assert report.new_mentions == 0
    assert feed_server.seen[-1].headers.get("If-None-Match") == '"v1"'
    assert feed_server.seen[-1].headers.get("If-Modified-Since") == "Mon, 03 Mar 2025 10:00:00 GMT"
    assert len(mentions(second)) == 1


async def test_two_schools_watching_one_feed_each_poll_it_as_their_own(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    """A trust's schools may watch the same alert (the trust's name, a shared town). Each keeps
    its own validators and times: the second school's first poll is unconditional and finds the
    entries the first already stored for itself, though the feed answers 304 to the first's
    ETag."""
    body = talkwalker([Item(f"{SCHOOL} fair", "https://news.example/fair")])

    async def conditional(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(body=body, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    feed_server.routes["/shared"] = conditional
    url = feed_server.url("/shared")
    source = [{"url": url, "label": "Trust alert", "kind": "talkwalker"}]

    def school_watcher(school_id: str) -> Watcher:
        settings = watcher_settings(sources=source)
        return Watcher(settings, lambda: policy, store, school=SCHOOL, school_id=school_id)

    [north] = await school_watcher("northfield").poll_once()
    [south] = await school_watcher("southfield").poll_once()
    [again] = await school_watcher("northfield").poll_once()
    assert (north.new_mentions, south.new_mentions, again.new_mentions) == (1, 1, 0)
    sent = [seen.headers.get("If-None-Match") for seen in feed_server.seen]
    assert sent == [None, None, '"v1"']  # southfield's first poll was not northfield's second
    assert sorted(m.school for m in mentions(store)) == ["northfield", "southfield"]
    with store.sessions() as session:
        rows = session.scalars(select(FeedState).order_by(FeedState.school)).all()
        assert [(r.school, r.feed_url, r.etag, r.last_status) for r in rows] == [
            ("northfield", url, '"v1"', 304),
            ("southfield", url, '"v1"', 200),
        ]


async def test_backlog_rule_on_first_poll(
    feed_server: FeedServer, store: Store, policy: Policy, smtp: MailServer
) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    items = [
        Item(f"{SCHOOL} opens (old news)", "https://news.example/old", published=old),
        Item(f"{SCHOOL} on a hate forum (old)", "https://hate-forum.example/old", published=old),
        Item(f"{SCHOOL} this week", "https://news.example/new"),
    ]
    url = feed_server.serve("/tw", talkwalker(items))
    watcher = make_watcher(
        store, policy, [{"url": url, "label": "TW", "kind": "talkwalker"}], mailer=mailer(smtp)
    )
    [report] = await watcher.poll_once()
    states = {m.url: m.state for m in mentions(store)}
    assert states == {
        "https://news.example/old": "backlog",
        "https://hate-forum.example/old": "new",  # high severity is never held back
        "https://news.example/new": "new",
    }
    assert "1 older than the backlog window" in report.summary
    assert len(smtp.inbox.messages) == 1
    text, _ = await digest_text(store)
    assert "1 older item from new feeds' first poll" in text
    assert "opens (old news)" not in text and "this week" in text

    # Later polls have no backlog: an old entry that appears now is news.
    feed_server.serve(
        "/tw",
        talkwalker([*items, Item(f"{SCHOOL} archive", "https://news.example/arch", published=old)]),
    )
    await watcher.poll_once()
    assert {m.url: m.state for m in mentions(store)}["https://news.example/arch"] == "new"


async def test_run_loop_polls_on_schedule_and_stops(
    feed_server: FeedServer, store: Store, policy: Policy
) -> None:
    url = feed_server.serve(
        "/tw", talkwalker([Item(f"{SCHOOL} fair", "https://news.example/fair")])
    )
    # A feed known from before whose next poll is due now (a new one waits up to a minute).
    with store.sessions() as session, session.begin():
        session.add(FeedState(feed_url=url, next_poll_at=datetime.now(UTC) - timedelta(seconds=1)))
    watcher = make_watcher(store, policy, [{"url": url, "label": "TW", "kind": "talkwalker"}])
    stop = asyncio.Event()
    task = asyncio.create_task(watcher.run(stop))
    for _ in range(100):
        await asyncio.sleep(0.05)
        if mentions(store):
            break
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert len(mentions(store)) == 1
    assert feed_server.paths() == ["/tw"]  # polled once: the next poll is an interval away
    state = feed_state(store, url)
    assert state.next_poll_at is not None and state.last_polled_at is not None
    assert (
        timedelta(minutes=59) < state.next_poll_at - state.last_polled_at <= timedelta(minutes=61)
    )
