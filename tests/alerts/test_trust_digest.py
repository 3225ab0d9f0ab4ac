"""Digests in a trust (issue #16): each school's watcher sends its own school's mentions to its
own recipients, and the optional trust-wide digest lists every school's, each with its school,
without taking any from the schools' own digests. Real SMTP (aiosmtpd), real SQLite."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alerts.digest import TrustDigest, digest_period, send_digest
from alerts.mail import Mailer
from monitor.schools import Schools
from monitor.store import scope
from monitor.store.models import BrandMention, FeedState
from monitor.store.runner import Store
from tests.alerts.conftest import MailServer, digest_settings, parts

SCHOOLS = Schools({"north": "Northfield Academy", "south": "Southgate School"}, "north")


def add_mentions(store: Store, when: datetime) -> None:
    with store.sessions() as session, session.begin():
        for school, title, severity in (
            ("north", "Northfield story", 0),
            ("north", "Northfield named on a forum", 3),
            ("south", "Southgate story", 0),
        ):
            session.add(
                BrandMention(
                    school=school, mention_key=uuid.uuid4().hex, feed="https://alerts.example/f",
                    feed_label="Google Alerts", url=f"https://news.example/{uuid.uuid4().hex}",
                    title=title, first_seen=when, last_seen=when, severity=severity, state="new",
                )
            )  # fmt: skip


async def test_each_school_gets_its_own_and_the_trust_gets_all(
    store: Store, smtp: MailServer
) -> None:
    settings = digest_settings(smtp, trust_recipients=["safeguarding@trust.example"])
    period = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    add_mentions(store, period.start + timedelta(hours=1))
    mailer = Mailer(settings)

    with scope.only_schools({"north"}):
        outcome = await send_digest(store, mailer, settings, period, "Northfield Academy", "north")
    assert outcome == "sent"
    trust = TrustDigest("Example Learning Trust", SCHOOLS)
    assert await send_digest(store, mailer, settings, period, "", "north", trust) == "sent"
    assert await send_digest(store, mailer, settings, period, "", "north", trust) == "already"

    school_mail, trust_mail = smtp.inbox.messages
    text, _ = parts(school_mail)
    assert "Northfield story" in text and "Southgate" not in text
    assert smtp.inbox.envelopes[1][1] == ["safeguarding@trust.example"]
    assert trust_mail["Subject"].startswith("Brand-alert digest for Example Learning Trust")
    assert "1 FLAGGED, 3 new mentions" in trust_mail["Subject"]
    text, html = parts(trust_mail)
    assert "Northfield Academy: Northfield named on a forum" in text
    assert "Southgate School: Southgate story" in text
    assert "By school: Northfield Academy 2, Southgate School 1." in text
    assert "Southgate School:" in html
    assert trust_mail["Message-ID"] != school_mail["Message-ID"]

    with store.sessions() as session:
        taken = {m.title: m.digest_id is not None for m in session.scalars(select(BrandMention))}
    # The school's digest took its own; the trust's took none, so Southgate's is still waiting.
    assert taken == {
        "Northfield story": True, "Northfield named on a forum": True, "Southgate story": False,
    }  # fmt: skip


async def test_a_shared_feed_failing_for_one_school_is_that_schools_news(
    store: Store, smtp: MailServer
) -> None:
    """Two schools watch one alert, each with its own feed state: the one failing for Southgate
    is in Southgate's digest and, named with its school, in the trust's; not in Northfield's."""
    settings = digest_settings(smtp, trust_recipients=["safeguarding@trust.example"])
    period = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    since = period.start + timedelta(hours=1)
    with store.sessions() as session, session.begin():
        for school, status in (("north", "ok"), ("south", "error")):
            session.add(
                FeedState(
                    school=school, feed_url="https://alerts.example/shared", label="Trust alert",
                    status=status, error_count=3 if status == "error" else 0,
                    failing_since=since if status == "error" else None,
                    last_error="HTTP 500" if status == "error" else None,
                )
            )  # fmt: skip
    mailer = Mailer(settings)
    for school_id, name in (("north", "Northfield Academy"), ("south", "Southgate School")):
        with scope.only_schools({school_id}):
            assert await send_digest(store, mailer, settings, period, name, school_id) == "sent"
    trust = TrustDigest("Example Learning Trust", SCHOOLS)
    assert await send_digest(store, mailer, settings, period, "", "north", trust) == "sent"

    north, south, whole = (parts(message)[0] for message in smtp.inbox.messages)
    assert "FAILING" not in north
    assert "1 feed FAILING" in south and "* Trust alert: HTTP 500" in south
    assert "1 feed FAILING" in whole and "* Southgate School: Trust alert: HTTP 500" in whole
    assert "* Northfield Academy: Trust alert" not in whole  # fine: counted, not listed
