"""Retention beyond events, on both backends: unblock requests and brand mentions.

Unblock requests carry a requester and a URL, brand mentions may name pupils: both are purged
on the same schedule as events (docs/store.md, "Retention"), with their own exceptions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from monitor.store import review
from monitor.store.folding import store_rows
from monitor.store.models import (
    BrandMention,
    BrandSighting,
    DigestSent,
    Event,
    UnblockRequest,
)
from monitor.store.retention import plan_purge, purge
from monitor.store.rows import event_row

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)


def add_request(session: Session, name: str, requested: datetime, status: str = "open",
                decided: datetime | None = None) -> None:
    session.add(
        UnblockRequest(
            requested_at=requested,
            requester=f"pupil.{name}",
            url=f"http://{name}.example/page",
            host=f"{name}.example",
            reason="needed for homework",
            status=status,
            decided_by="it.staff" if status != "open" else None,
            decided_at=decided,
        )
    )


def test_decided_unblock_requests_go_pending_ones_stay(session: Session):
    add_request(session, "pending-old", OLD)  # nobody decided it: kept however old
    add_request(session, "approved-old", OLD, "approved", OLD + timedelta(days=1))
    add_request(session, "denied-old", OLD, "denied", OLD + timedelta(days=2))
    add_request(session, "denied-undated", OLD, "denied", None)  # decided, time not recorded
    add_request(session, "decided-lately", OLD, "denied", NOW - timedelta(days=20))
    add_request(session, "approved-recent", RECENT, "approved", RECENT)
    add_request(session, "pending-recent", RECENT)
    session.commit()

    plan = plan_purge(session, 365, now=NOW)
    assert (plan.unblock_requests, plan.held_pending_requests) == (3, 1)
    assert session.scalar(select(func.count()).select_from(UnblockRequest)) == 7  # dry run

    result = purge(session, 365, now=NOW)
    session.commit()
    assert result.unblock_requests == 3
    left = set(session.scalars(select(UnblockRequest.requester)))
    assert left == {
        "pupil.pending-old", "pupil.decided-lately", "pupil.approved-recent", "pupil.pending-recent"
    }
    # Deciding the old pending request starts its period: it goes one period after the decision.
    session.execute(
        update(UnblockRequest)
        .where(UnblockRequest.requester == "pupil.pending-old")
        .values(status="denied", decided_at=NOW)
    )
    session.commit()
    assert purge(session, 365, now=NOW + timedelta(days=364)).unblock_requests == 2
    assert purge(session, 365, now=NOW + timedelta(days=366)).unblock_requests == 1
    session.commit()
    assert set(session.scalars(select(UnblockRequest.requester))) == {"pupil.pending-recent"}


def add_mention(session: Session, key: str, last_seen: datetime, event_id: str | None = None,
                sightings: int = 1, digest: DigestSent | None = None) -> None:
    mention = BrandMention(
        mention_key=key,
        feed="http://alerts.example/feed",
        url=f"http://news.example/{key}",
        title=f"Fictional Academy pupil story {key}",
        first_seen=last_seen - timedelta(days=1),
        last_seen=last_seen,
        event_id=event_id,
        digest_id=digest.id if digest else None,
    )
    session.add(mention)
    session.flush()
    for n in range(sightings):
        session.add(
            BrandSighting(
                feed_key=f"feed-{key}", entry_key=f"entry-{n}", mention_id=mention.id,
                first_seen=mention.first_seen,
            )
        )


def test_brand_mentions_go_unless_their_event_is_kept(
    engine: Engine, session: Session, make_event: Any
):
    events = {
        "escalated": make_event(when=OLD, user="a", source="brand-watch"),
        "closed": make_event(when=OLD, user="b", source="brand-watch"),
        "recent": make_event(when=RECENT, user="c", source="brand-watch"),
    }
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in events.values()], timedelta(minutes=10))
    ids = {name: e.id for name, e in events.items()}
    review.set_status(session, ids["escalated"], "escalated", actor="dsl")
    review.set_status(session, ids["closed"], "closed_no_concern", actor="dsl")
    session.execute(update(Event).values(status_changed_at=OLD + timedelta(days=1)))
    digest = DigestSent(
        sent_at=OLD, period_start=OLD - timedelta(days=1), period_end=OLD,
        recipients="comms@school.example", mention_count=1,
    )
    session.add(digest)
    session.flush()
    add_mention(session, "old-unlinked", OLD, sightings=2, digest=digest)
    add_mention(session, "old-gone-event", OLD, event_id="no-such-event")
    add_mention(session, "old-closed-event", OLD, event_id=ids["closed"])
    add_mention(session, "old-open-case", OLD, event_id=ids["escalated"], sightings=3)
    add_mention(session, "old-recent-event", OLD, event_id=ids["recent"])
    add_mention(session, "recent", RECENT)
    session.commit()

    plan = plan_purge(session, 365, now=NOW)
    assert (plan.mentions, plan.mention_sightings, plan.held_mentions) == (3, 4, 2)
    assert session.scalar(select(func.count()).select_from(BrandMention)) == 6  # dry run

    result = purge(session, 365, now=NOW)
    session.commit()
    assert (result.events, result.mentions, result.mention_sightings) == (1, 3, 4)
    assert set(session.scalars(select(BrandMention.mention_key))) == {
        "old-open-case", "old-recent-event", "recent"
    }
    assert session.scalar(select(func.count()).select_from(BrandSighting)) == 5  # 3 + 1 + 1
    assert session.scalar(select(func.count()).select_from(DigestSent)) == 1  # digests stay

    # The case closes at NOW: event and mention stay a period longer, then go together.
    review.set_status(session, ids["escalated"], "closed_no_concern", actor="dsl")
    session.execute(
        update(Event).where(Event.event_id == ids["escalated"]).values(status_changed_at=NOW)
    )
    session.commit()
    later = purge(session, 365, now=NOW + timedelta(days=364))
    assert (later.events, later.mentions) == (1, 2)  # the recent event, its mention, "recent"
    final = purge(session, 365, now=NOW + timedelta(days=366))
    session.commit()
    assert (final.events, final.mentions, final.mention_sightings) == (1, 1, 3)
    assert session.scalar(select(func.count()).select_from(BrandMention)) == 0
    assert session.scalar(select(func.count()).select_from(BrandSighting)) == 0
