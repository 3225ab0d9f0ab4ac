"""The watcher's and the digest's store API on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from monitor.store.mentions import (
    feed_state,
    record_digest,
    save_feed_state,
    undigested_mentions,
    upsert_mention,
)

T = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)
FEED = "https://alerts.example/feeds/123"


def test_mentions_dedupe_and_digest(session: Session) -> None:
    first, created = upsert_mention(
        session, mention_key="k1", feed=FEED, url="https://news.example/a", title="Oakfield "
        "Academy\x00 wins", severity=1, seen_at=T,
    )
    again, created_again = upsert_mention(
        session, mention_key="k1", feed=FEED, url="https://news.example/a", severity=3,
        category="threat", seen_at=T + timedelta(hours=1),
    )
    upsert_mention(session, mention_key="k2", feed=FEED, url="https://blog.example/b", seen_at=T)
    session.commit()
    assert created and not created_again and first is again
    assert (again.seen_count, again.severity, again.category) == (2, 3, "threat")
    assert again.last_seen == T + timedelta(hours=1)
    assert again.title == "Oakfield Academy\\x00 wins"

    pending = undigested_mentions(session)
    assert [m.mention_key for m in pending] == ["k1", "k2"]
    digest = record_digest(
        session, pending, recipients=["head@oakfield.example"], period_start=T,
        period_end=T + timedelta(days=1), message_id="<d1@oakfield.example>",
    )
    session.commit()
    assert digest.mention_count == 2
    assert undigested_mentions(session) == []


def test_feed_state_round_trip(session: Session) -> None:
    assert feed_state(session, FEED) is None
    save_feed_state(session, FEED, etag='"abc"', last_polled_at=T, error_count=0)
    save_feed_state(session, FEED, error_count=2, last_error="timeout\n" * 1000)
    session.commit()
    state = feed_state(session, FEED)
    assert state is not None
    assert (state.etag, state.error_count, state.last_polled_at) == ('"abc"', 2, T)
    assert state.last_error is not None and len(state.last_error) <= 2048
