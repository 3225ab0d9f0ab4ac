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
from monitor.store.models import BrandMention
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
