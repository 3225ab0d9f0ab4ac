"""What the brand-alert watcher and the digest store: mentions of the school, feed state, digests.

All synchronous and taking a Session (the watcher runs them in a thread or its own executor);
the caller commits.

    mention, created = upsert_mention(session, mention_key=key, feed=feed_url, url=url,
                                      title=title, snippet=snippet, published_at=when,
                                      category=c, severity=s, rule=r)
    state = feed_state(session, feed_url)          # FeedState or None
    save_feed_state(session, feed_url, etag=..., last_modified=..., last_polled_at=...,
                    last_success_at=..., next_poll_at=..., error_count=..., last_error=...)
    undigested_mentions(session, min_severity=0)   # not yet in a digest, oldest first
    record_digest(session, mentions, recipients=[...], period_start=..., period_end=...,
                  message_id=..., status="sent", error=None) -> DigestSent

`mention_key` is the watcher's dedupe key (e.g. a hash of the unwrapped canonical URL): a second
sighting updates `last_seen` and `seen_count` instead of adding a row. Text is made safe and cut
to the column sizes as for events (`monitor.store.rows.safe_text`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from monitor.store.models import BrandMention, DigestSent, FeedState
from monitor.store.rows import safe_severity, safe_text


def _now() -> datetime:
    return datetime.now(UTC)


def upsert_mention(
    session: Session,
    *,
    mention_key: str,
    feed: str,
    url: str,
    title: str | None = None,
    snippet: str | None = None,
    published_at: datetime | None = None,
    category: str | None = None,
    severity: int = 0,
    rule: str | None = None,
    event_id: str | None = None,
    seen_at: datetime | None = None,
) -> tuple[BrandMention, bool]:
    """Add a mention or count another sighting of it; returns (mention, created)."""
    key = safe_text(mention_key, 64) or ""
    now = seen_at or _now()
    existing = session.scalars(
        select(BrandMention).where(BrandMention.mention_key == key)
    ).one_or_none()
    if existing is not None:
        existing.last_seen = max(existing.last_seen, now)
        existing.seen_count += 1
        if safe_severity(severity) > existing.severity:  # a re-classification can only raise it
            existing.severity = safe_severity(severity)
            existing.category = safe_text(category, 128)
            existing.rule = safe_text(rule, 256)
        return existing, False
    mention = BrandMention(
        mention_key=key,
        feed=safe_text(feed, 2048) or "",
        url=safe_text(url, 8192) or "",
        title=safe_text(title, 1024),
        snippet=safe_text(snippet, 2048),
        published_at=published_at,
        first_seen=now,
        last_seen=now,
        seen_count=1,
        category=safe_text(category, 128),
        severity=safe_severity(severity),
        rule=safe_text(rule, 256),
        event_id=event_id,
    )
    try:
        with session.begin_nested():  # another watcher process may have added it meanwhile
            session.add(mention)
    except IntegrityError:
        return upsert_mention(
            session, mention_key=key, feed=feed, url=url, severity=severity, seen_at=now
        )
    return mention, True


def feed_state(session: Session, feed_url: str) -> FeedState | None:
    return session.scalars(select(FeedState).where(FeedState.feed_url == feed_url)).one_or_none()


FEED_FIELDS = (
    "etag", "last_modified", "last_polled_at", "last_success_at", "next_poll_at",
    "error_count", "last_error",
)  # fmt: skip


def save_feed_state(session: Session, feed_url: str, **fields: Any) -> FeedState:
    """Create or update a feed's state with the given fields (names as in `FeedState`)."""
    unknown = set(fields) - set(FEED_FIELDS)
    if unknown:
        raise TypeError(f"unknown feed state fields: {', '.join(sorted(unknown))}")
    state = feed_state(session, feed_url)
    if state is None:
        state = FeedState(feed_url=feed_url, error_count=0)
        session.add(state)
    for name, value in fields.items():
        if name in ("etag", "last_modified", "last_error") and value is not None:
            value = safe_text(value, {"etag": 512, "last_modified": 128}.get(name, 2048))
        setattr(state, name, value)
    session.flush()
    return state


def undigested_mentions(session: Session, *, min_severity: int = 0) -> Sequence[BrandMention]:
    query = (
        select(BrandMention)
        .where(BrandMention.digest_id.is_(None), BrandMention.severity >= min_severity)
        .order_by(BrandMention.first_seen, BrandMention.id)
    )
    return session.scalars(query).all()


def record_digest(
    session: Session,
    mentions: Iterable[BrandMention],
    *,
    recipients: Sequence[str],
    period_start: datetime,
    period_end: datetime,
    message_id: str | None = None,
    status: str = "sent",
    error: str | None = None,
    sent_at: datetime | None = None,
) -> DigestSent:
    """Record a digest; when it was sent, mark its mentions as digested."""
    mentions = list(mentions)
    digest = DigestSent(
        sent_at=sent_at or _now(),
        period_start=period_start,
        period_end=period_end,
        recipients=safe_text(", ".join(recipients), 4096) or "",
        mention_count=len(mentions),
        status=status,
        message_id=safe_text(message_id, 512),
        error=safe_text(error, 2048),
    )
    session.add(digest)
    session.flush()
    if status == "sent":
        for mention in mentions:
            mention.digest_id = digest.id
    return digest
