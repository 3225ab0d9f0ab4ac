"""The digest: its schedule, its contents, one email per period over real SMTP, the preview."""

from __future__ import annotations

import datetime as dt
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from alerts.digest import digest_period, send_digest
from alerts.mail import Mailer
from alerts.watcher import Watcher
from filters.decision import Action, Decision, Kind, Severity
from filters.policy import Policy
from monitor.cli import main
from monitor.events import FlaggedEvent
from monitor.store.mentionreview import triage_mention
from monitor.store.models import BrandMention, DigestSent
from monitor.store.runner import Store
from monitor.store.writer import EventWriter
from tests.alerts.conftest import (
    FeedServer,
    Inbox,
    MailServer,
    digest_settings,
    parts,
    watcher_settings,
)
from tests.alerts.feeds import SCHOOL, Item, bing_news, google_alerts, talkwalker
from tests.localnet import free_port, self_signed

LONDON = "Europe/London"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_daily_period_in_local_time_across_clock_changes() -> None:
    settings = digest_settings(time="07:30")
    winter = digest_period(at("2025-01-15T08:00:00+00:00"), settings)
    assert winter.key == "daily:2025-01-15"
    assert winter.end == at("2025-01-15T07:30:00+00:00")
    assert winter.start == at("2025-01-14T07:30:00+00:00")
    before = digest_period(at("2025-01-15T07:29:00+00:00"), settings)
    assert before.key == "daily:2025-01-14"
    summer = digest_period(at("2025-07-01T07:00:00+00:00"), settings)  # 08:00 BST
    assert summer.end == at("2025-07-01T06:30:00+00:00")
    # The clocks go forward on 30 March 2025: that period is 23 hours long.
    spring = digest_period(at("2025-03-30T12:00:00+00:00"), settings)
    assert spring.end - spring.start == timedelta(hours=23)
    assert spring.next_end() == at("2025-03-31T06:30:00+00:00")


def test_weekly_period() -> None:
    settings = digest_settings(schedule="weekly", weekday="friday", time="16:00")
    period = digest_period(at("2025-03-05T12:00:00+00:00"), settings)  # a Wednesday
    assert period.key == "weekly:2025-02-28"
    assert period.end == at("2025-02-28T16:00:00+00:00")
    assert period.end - period.start == timedelta(days=7)
    assert period.next_end() == at("2025-03-07T16:00:00+00:00")


def test_settings_problems_name_the_key() -> None:
    assert digest_settings(time="7.30", timezone="Europe/Londres").check() == [
        "digest.time: '7.30' is not a time like 07:30",
        "digest.timezone: 'Europe/Londres' is not a time zone name (Europe/London)",
    ]
    problems: list[str] = []
    watcher_settings(
        sources=[{"url": "ftp://x.example/f"}, {"url": "https://a.example/f", "kind": "x"}]
    ).feed_sources(problems)
    assert problems == [
        "watcher.sources[0].url: 'ftp://x.example/f' is not an http(s) URL",
        "watcher.sources[1].kind: 'x' is not one of google-alerts, bing-news, google-news, "
        "talkwalker, rss, atom",
    ]


async def fill(feed_server: FeedServer, store: Store, policy: Policy, many: int = 3) -> None:
    """Mentions from three feeds, two flagged, one failing feed; and gateway events."""
    news = [
        Item(
            f"{SCHOOL} story {n}: pupils & staff",
            f"https://news.example/s/{n}",
            snippet=f"Snippet {n} about {SCHOOL} in Exampleton.",
        )
        for n in range(many)
    ]
    flagged = [
        Item(f"{SCHOOL} named on forum", "https://www.extremist.test/t/1", snippet="A thread."),
        Item(f"{SCHOOL} on a watched site", "https://watched.test/p"),
    ]
    sources = [
        {
            "url": feed_server.serve("/ga", google_alerts(flagged + news[:1])),
            "label": "Google Alerts",
            "kind": "google-alerts",
        },
        {
            "url": feed_server.serve("/bing", bing_news(news[1:])),
            "label": "Bing News",
            "kind": "bing-news",
        },
        {
            "url": feed_server.serve(
                "/tw", talkwalker([Item(f"{SCHOOL} fete", "https://local.example/fete")])
            ),
            "label": "Talkwalker",
            "kind": "talkwalker",
        },
        {
            "url": feed_server.serve("/broken", b"", status=500),
            "label": "Broken alert",
            "kind": "rss",
        },
    ]
    watcher = Watcher(watcher_settings(sources=sources), lambda: policy, store, school=SCHOOL)
    await watcher.poll_once()


def gateway_events(database_url: str, tmp_path: Path) -> None:
    writer = EventWriter(database_url, spool_dir=str(tmp_path / "spool"))
    writer.start()
    for n, (action, category, severity) in enumerate(
        [
            ("block", "extremism", 3),
            ("block", "extremism", 3),
            ("flag", "watchlist", 1),
            ("study", "extremism", 3),
        ]
    ):
        decision = Decision(
            action=Action(action),
            url=f"http://site{n}.test/",
            host=f"site{n}.test",
            category=category,
            severity=Severity(severity),
            kind=Kind.URL,
            rule=f"domain:site{n}.test",
        )
        writer.submit(FlaggedEvent.from_decision(decision, user=f"pupil{n}"))
    assert writer.flush(5)
    writer.close(5)


async def test_digest_email_reads_well(
    feed_server: FeedServer,
    store: Store,
    policy: Policy,
    smtp: MailServer,
    database_url: str,
    tmp_path: Path,
) -> None:
    await fill(feed_server, store, policy)
    gateway_events(database_url, tmp_path)
    settings = digest_settings(smtp)
    period = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    assert await send_digest(store, Mailer(settings), settings, period, SCHOOL) == "sent"

    [message] = smtp.inbox.messages
    assert smtp.inbox.envelopes[0][1] == ["comms@school.example", "head@school.example"]
    assert message.get_content_type() == "multipart/alternative"
    assert message["Subject"].startswith(f"Brand-alert digest for {SCHOOL}")
    assert "2 FLAGGED, 6 new mentions, 1 feed failing" in message["Subject"]
    text, html = parts(message)
    # Flagged first, then the rest by source, with counts.
    assert text.index("FLAGGED (for the Prevent lead)") < text.index("OTHER MENTIONS, BY SOURCE")
    assert text.index("named on forum") < text.index("on a watched site") < text.index("story 0")
    assert "[HIGH, extremism]" in text and "[LOW, watchlist]" in text
    assert "By source: Google Alerts 3, Bing News 2, Talkwalker 1." in text
    assert "Bing News (2)" in text and "pupils & staff" in text
    # Failing feeds and the gateway summary, counts only.
    assert "Broken alert: HTTP 500" in text and "1 feed FAILING" in text
    assert "4 events: 2 block, 1 flag, 1 study." in text and "3 of high or critical" in text
    assert "pupil0" not in text and "pupil0" not in html
    # The HTML part escapes what feeds wrote and links only unflagged articles.
    assert "pupils &amp; staff" in html and "pupils & staff" not in html
    assert 'href="https://news.example/s/0"' in html
    assert 'href="https://www.extremist.test/t/1"' not in html
    # Every mention now belongs to this digest.
    with store.sessions() as session:
        assert all(m.digest_id is not None for m in session.scalars(select(BrandMention)))
        row = session.scalar(select(DigestSent))
        assert row is not None and (row.status, row.mention_count, row.period_key) == (
            "sent",
            6,
            f"school:{period.key}",
        )


async def test_cap_with_and_n_more(
    feed_server: FeedServer, store: Store, policy: Policy, smtp: MailServer
) -> None:
    await fill(feed_server, store, policy, many=30)
    settings = digest_settings(smtp, max_items=10)
    period = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    assert await send_digest(store, Mailer(settings), settings, period, SCHOOL) == "sent"
    text, html = parts(smtp.inbox.messages[0])
    assert "33 new mentions" in text
    # 10 listed: 2 flagged, then the cap shared between the sources (6 + 1 + 1).
    assert text.count("https://news.example/s/") == 7 and "https://local.example/fete" in text
    assert "... and 23 more mentions not listed here" in text and "and 23 more mentions" in html
    assert "... and 23 more from Bing News" in text


async def test_idempotent_per_period_across_restarts(
    feed_server: FeedServer, engine: Any, policy: Policy, smtp: MailServer
) -> None:
    store = Store(engine)
    await fill(feed_server, store, policy)
    settings = digest_settings(smtp)
    period = digest_period(datetime.now(UTC), settings)
    assert await send_digest(store, Mailer(settings), settings, period, SCHOOL) == "sent"
    assert await send_digest(store, Mailer(settings), settings, period, SCHOOL) == "already"
    store.close()
    restarted = Store(engine)
    assert await send_digest(restarted, Mailer(settings), settings, period, SCHOOL) == "already"
    restarted.close()
    assert len(smtp.inbox.messages) == 1


async def test_failed_send_is_retried_and_interrupted_send_is_not(
    feed_server: FeedServer, store: Store, policy: Policy, smtp: MailServer
) -> None:
    await fill(feed_server, store, policy)
    settings = digest_settings(smtp)
    period = digest_period(datetime.now(UTC), settings)
    down = digest_settings(smtp, smtp_port=1)
    assert await send_digest(store, Mailer(down), down, period, SCHOOL) == "failed"
    with store.sessions() as session:
        row = session.scalar(select(DigestSent))
        assert row is not None and row.status == "failed" and row.error
        assert (
            session.scalar(select(BrandMention).where(BrandMention.digest_id.is_not(None))) is None
        )
    assert await send_digest(store, Mailer(settings), settings, period, SCHOOL) == "sent"
    # A crash between claiming and finishing leaves "sending": never sent again.
    later = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    with store.sessions() as session, session.begin():
        session.add(
            DigestSent(
                period_key=f"school:{later.key}",
                period_start=later.start,
                period_end=later.end,
                sent_at=datetime.now(UTC),
                recipients="x",
                status="sending",
            )
        )
    assert await send_digest(store, Mailer(settings), settings, later, SCHOOL) == "already"
    assert len(smtp.inbox.messages) == 1


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Any:
    """aiosmtpd requiring STARTTLS and a login, with a self-signed certificate for 127.0.0.1."""
    cert_file, key_file = self_signed(tmp_path, "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        ok = data.login == b"digest" and data.password == b"s3cret"
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        authenticator=authenticator,
        auth_require_tls=True,
        server_hostname="127.0.0.1",
    )
    controller.start()
    yield inbox, controller.port, cert_file, logins
    controller.stop()


async def test_starttls_and_login(tls_smtp: Any) -> None:
    inbox, port, cert_file, logins = tls_smtp
    settings = digest_settings(
        None, smtp_port=port, smtp_starttls=True, smtp_username="digest", smtp_password="s3cret"
    )
    from alerts.mail import build_message

    message = build_message(
        sender=settings.sender, to=["a@school.example"], subject="t", text="x", html="<p>x</p>"
    )
    assert await Mailer(settings, ca_file=cert_file).send(message)
    assert len(inbox.messages) == 1 and logins == [(b"digest", b"s3cret")]
    wrong = digest_settings(
        None, smtp_port=port, smtp_starttls=True, smtp_username="digest", smtp_password="nope"
    )
    mailer = Mailer(wrong, ca_file=cert_file)
    assert not await mailer.send(message) and "SMTPAuthenticationError" in (mailer.last_error or "")
    plain = digest_settings(None, smtp_port=port, smtp_starttls=False)
    assert not await Mailer(plain).send(message)  # the server insists on STARTTLS
    assert len(inbox.messages) == 1


async def test_preview_command_writes_files(
    feed_server: FeedServer,
    store: Store,
    policy: Policy,
    database_url: str,
    tmp_path: Path,
    smtp: MailServer,
) -> None:
    await fill(feed_server, store, policy)
    target = tmp_path / "digest.html"
    import asyncio

    code = await asyncio.to_thread(
        main, ["digest", "--database-url", database_url, "--preview", str(target)]
    )
    assert code == 0
    html = target.read_text()
    text = (tmp_path / "digest.txt").read_text()
    assert "<!DOCTYPE html>" in html and "named on forum" in html
    assert "FLAGGED (for the Prevent lead)" in text
    assert smtp.inbox.messages == []  # a preview sends nothing
    with store.sessions() as session:  # and marks nothing
        assert session.scalar(select(DigestSent)) is None


def test_unused_import_guard() -> None:
    assert dt.time(7, 30) == digest_settings().send_time()


async def test_digest_counts_mentions_by_review(
    feed_server: FeedServer, store: Store, policy: Policy, smtp: MailServer
) -> None:
    await fill(feed_server, store, policy)
    with store.sessions() as session:
        first, second = session.scalars(select(BrandMention.id).order_by(BrandMention.id)).all()[:2]
        triage_mention(session, first, actor="dsl", status="escalated", note="names pupil.q")
        triage_mention(session, second, actor="dsl", status="dismissed")
        session.commit()
    settings = digest_settings(smtp)
    period = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    assert await send_digest(store, Mailer(settings), settings, period, SCHOOL) == "sent"
    text, html = parts(smtp.inbox.messages[0])
    line = (
        "All mentions found so far, by the Prevent lead's review: "
        "4 new, 1 dismissed, 1 escalated."
    )
    assert line in text and line in html
    assert "4 awaiting review; 2 reviews changed this period." in text
    assert "pupil.q" not in text and "pupil.q" not in html  # counts only, never notes
