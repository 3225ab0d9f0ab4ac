"""Brand mentions and the brand watch: feed state, sightings, mentions, alerts and digests sent.

What the watcher, the digest and the console's mention pages read and write. Every function
takes a `Session` inside a transaction and does one job; callers run them through
`monitor.store.runner.Store` (`await store.write(record_poll, poll)`). Tables are
`monitor.store.models` (`FeedState`, `BrandMention`, `BrandSighting`, `DigestSent`).

Dedupe (issue 5 point 5): an entry is known to a feed by `(feed_key, entry_key)` in
`brand_sightings`; an article is known across feeds by `brand_mentions.mention_key` (the canonical
URL's key). A second feed finding the same article adds a sighting and counts it
(`seen_count`), it never makes a second mention.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from monitor.schools import DEFAULT_SCHOOL_ID
from monitor.store.models import BrandMention, BrandSighting, DigestSent, FeedState
from monitor.store.rows import safe_text


def feed_key(feed_url: str) -> str:
    return hashlib.sha256(feed_url.encode("utf-8", "backslashreplace")).hexdigest()


def entry_key(entry_id: str) -> str:
    return hashlib.sha256(entry_id.encode("utf-8", "backslashreplace")).hexdigest()


@dataclass(frozen=True, slots=True)
class MentionItem:
    """One entry that names the school, ready to store."""

    entry_key: str
    mention_key: str
    url: str
    host: str
    title: str
    snippet: str
    published_at: datetime | None
    publisher: str | None
    severity: int
    category: str | None
    rule: str | None
    rule_source: str | None
    reason: str
    backlog: bool = False
    event_id: str | None = None  # made when the mention is high enough to become an event


@dataclass(slots=True)
class FeedPoll:
    """What one poll of one feed found, stored in one transaction."""

    feed_url: str
    label: str
    kind: str
    polled_at: datetime
    next_poll_at: datetime
    status: str  # ok | warning | error
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    keep_validators: bool = True  # a 304 or an error keeps the previous ones
    error: str | None = None
    error_count: int = 0
    summary: str = ""
    items: list[MentionItem] = field(default_factory=list)
    school: str = DEFAULT_SCHOOL_ID  # whose watcher polled it: its mentions are that school's


@dataclass(frozen=True, slots=True)
class NewMention:
    id: int
    item: MentionItem


# -- feed state -----------------------------------------------------------------------------


def load_feed_states(session: Session, school: str, urls: Iterable[str]) -> dict[str, FeedState]:
    """One school's state of these feeds, by URL (a school's watcher polls its own feeds)."""
    query = select(FeedState).where(FeedState.school == school)
    wanted = list(urls)
    found: dict[str, FeedState] = {}
    for start in range(0, len(wanted), 500):
        rows = session.scalars(query.where(FeedState.feed_url.in_(wanted[start : start + 500])))
        found.update({row.feed_url: row for row in rows})
    return found


def feed_states(session: Session) -> list[FeedState]:
    """Every feed's state the caller's scope sees (one row per school and feed URL)."""
    query = select(FeedState).order_by(FeedState.school, FeedState.feed_url)
    return list(session.scalars(query))


def record_poll(session: Session, poll: FeedPoll) -> list[NewMention]:
    """Store the feed's state and its mentions; return the mentions that are new."""
    mine = (FeedState.school == poll.school, FeedState.feed_url == poll.feed_url)
    state = session.scalar(select(FeedState).where(*mine))
    if state is None:
        state = FeedState(school=poll.school, feed_url=poll.feed_url, error_count=0)
        session.add(state)
    state.label = safe_text(poll.label, 256)
    state.kind = poll.kind
    state.last_polled_at = poll.polled_at
    state.next_poll_at = poll.next_poll_at
    state.last_status = poll.http_status
    state.status = poll.status
    state.error_count = poll.error_count
    state.last_summary = safe_text(poll.summary, 512)
    if poll.status == "error":
        state.last_error = safe_text(poll.error, 2048)
        if state.failing_since is None:
            state.failing_since = poll.polled_at
    else:
        state.last_success_at = poll.polled_at
        state.failing_since = None
        state.last_error = safe_text(poll.error, 2048) if poll.status == "warning" else None
        if not poll.keep_validators:
            state.etag = safe_text(poll.etag, 512)
            state.last_modified = safe_text(poll.last_modified, 128)
    if not poll.items:
        return []
    return _record_mentions(session, poll)


def _record_mentions(session: Session, poll: FeedPoll) -> list[NewMention]:
    fkey = feed_key(poll.feed_url)
    items: dict[str, MentionItem] = {}
    for item in poll.items:
        items.setdefault(item.entry_key, item)  # duplicate ids in one document: first wins
    # Sightings of this school's mentions only: a feed two schools watch is new to each.
    known = set(
        session.scalars(
            select(BrandSighting.entry_key)
            .join(BrandMention, BrandMention.id == BrandSighting.mention_id)
            .where(
                BrandMention.school == poll.school,
                BrandSighting.feed_key == fkey,
                BrandSighting.entry_key.in_(list(items)),
            )
        )
    )
    fresh = [item for key, item in items.items() if key not in known]
    if not fresh:
        return []
    keys = list({item.mention_key for item in fresh})
    mentions = {
        m.mention_key: m
        for m in session.scalars(
            select(BrandMention).where(
                BrandMention.school == poll.school, BrandMention.mention_key.in_(keys)
            )
        )
    }
    ids = {key: mention.id for key, mention in mentions.items()}
    new: dict[str, MentionItem] = {}
    for item in fresh:
        mention = mentions.get(item.mention_key)
        if mention is not None:
            mention.seen_count += 1
            mention.last_seen = poll.polled_at
            if item.severity > mention.severity:  # the policy grew since: keep the worse view
                _classify(mention, item)
        elif item.mention_key not in new:
            new[item.mention_key] = item
    if new:
        # One multi-row INSERT ... RETURNING: the ORM's per-object work costs more than the
        # database does at a thousand feeds.
        inserted = session.execute(
            insert(BrandMention).returning(
                BrandMention.id, BrandMention.mention_key, sort_by_parameter_order=True
            ),
            [_mention_row(poll, item) for item in new.values()],
        )
        ids.update({key: id_ for id_, key in inserted})
    session.execute(
        insert(BrandSighting),
        [
            {"feed_key": fkey, "entry_key": item.entry_key, "mention_id": ids[item.mention_key],
             "first_seen": poll.polled_at}
            for item in fresh
        ],
    )
    return [NewMention(ids[key], item) for key, item in new.items()]


def _mention_row(poll: FeedPoll, item: MentionItem) -> dict[str, Any]:
    return {
        "school": poll.school,
        "mention_key": item.mention_key,
        "feed": safe_text(poll.feed_url, 2048) or "",
        "feed_label": safe_text(poll.label, 256),
        "url": safe_text(item.url, 8192) or "",
        "title": safe_text(item.title, 1024),
        "snippet": safe_text(item.snippet, 2048),
        "publisher": safe_text(item.publisher, 512),
        "published_at": item.published_at,
        "first_seen": poll.polled_at,
        "last_seen": poll.polled_at,
        "seen_count": 1,
        "state": "backlog" if item.backlog else "new",
        "event_id": item.event_id,
        "severity": item.severity,
        "category": safe_text(item.category, 128),
        "rule": safe_text(item.rule, 256),
        "rule_source": safe_text(item.rule_source, 512),
        "reason": safe_text(item.reason, 2048) or None,
    }


def _classify(mention: BrandMention, item: MentionItem) -> None:
    mention.severity = item.severity
    mention.category = safe_text(item.category, 128)
    mention.rule = safe_text(item.rule, 256)
    mention.rule_source = safe_text(item.rule_source, 512)
    mention.reason = safe_text(item.reason, 2048) or None
    if item.event_id and not mention.event_id:
        mention.event_id = item.event_id


# -- immediate alerts -------------------------------------------------------------------------


def alerts_due(session: Session, min_severity: int) -> list[BrandMention]:
    """High mentions not yet emailed to the Prevent lead (kept until an email goes out)."""
    return list(
        session.scalars(
            select(BrandMention)
            .where(BrandMention.severity >= min_severity, BrandMention.alerted_at.is_(None))
            .order_by(BrandMention.first_seen, BrandMention.id)
            .limit(100)
        )
    )


def mark_alerted(session: Session, ids: Sequence[int], when: datetime) -> None:
    session.execute(update(BrandMention).where(BrandMention.id.in_(ids)).values(alerted_at=when))


# -- the digest -----------------------------------------------------------------------------


def mentions_for_digest(session: Session, until: datetime) -> list[BrandMention]:
    """Every mention no digest has carried yet, found before `until`."""
    return list(
        session.scalars(
            select(BrandMention)
            .where(BrandMention.digest_id.is_(None), BrandMention.first_seen < until)
            .order_by(BrandMention.severity.desc(), BrandMention.first_seen, BrandMention.id)
        )
    )


def mentions_in_period(session: Session, start: datetime, end: datetime) -> list[BrandMention]:
    """Every mention first found in [start, end), for the trust-wide digest: it reads them
    without taking them, so each school's own digest still carries its own."""
    return list(
        session.scalars(
            select(BrandMention)
            .where(BrandMention.first_seen >= start, BrandMention.first_seen < end)
            .order_by(BrandMention.severity.desc(), BrandMention.first_seen, BrandMention.id)
        )
    )


def claim_digest(
    session: Session, period_key: str, start: datetime, end: datetime, recipients: str,
    now: datetime, school: str = DEFAULT_SCHOOL_ID,
) -> int | None:
    """Take the period's digest for sending; None when it was sent (or is being sent) already.

    A digest left "sending" by a crash is not sent again: the mail may have gone out, and a
    duplicate is worse than a gap that the next digest covers (its mentions stay unsent).
    Only a digest that certainly failed is tried again. Each school (and the trust-wide
    digest, `school` "*") has its own digest per period."""
    period_key = f"{school}:{period_key}"
    row = session.scalar(select(DigestSent).where(DigestSent.period_key == period_key))
    if row is None:
        row = DigestSent(
            school=school,
            period_key=period_key, period_start=start, period_end=end, sent_at=now,
            recipients=safe_text(recipients, 4096) or "", status="sending",
        )
        session.add(row)
        session.flush()
        return row.id
    if row.status != "failed":
        return None
    row.status, row.sent_at, row.error = "sending", now, None
    return row.id


def finish_digest(
    session: Session, digest_id: int, *, sent: bool, when: datetime, mention_ids: Sequence[int],
    message_id: str | None, error: str | None,
) -> None:
    row = session.get(DigestSent, digest_id)
    if row is None:
        return
    row.status = "sent" if sent else "failed"
    row.sent_at = when
    row.message_id = message_id
    row.error = safe_text(error, 2048)
    row.mention_count = len(mention_ids)
    if sent:
        for start in range(0, len(mention_ids), 500):
            session.execute(
                update(BrandMention)
                .where(BrandMention.id.in_(mention_ids[start : start + 500]))
                .values(digest_id=digest_id)
            )


def digest_for_period(session: Session, period_key: str) -> DigestSent | None:
    return session.scalar(select(DigestSent).where(DigestSent.period_key == period_key))


def digest_status(session: Session, period_key: str) -> str | None:
    """"sending", "sent" or "failed" for a period claimed, None for one never claimed."""
    row = digest_for_period(session, period_key)
    return row.status if row else None


def list_digests(session: Session, limit: int = 200) -> list[DigestSent]:
    """The digests sent, newest first (the console's Digests page)."""
    query = select(DigestSent).order_by(DigestSent.sent_at.desc()).limit(limit)
    return list(session.scalars(query))


# -- the console ----------------------------------------------------------------------------


def list_mentions(
    session: Session, min_severity: int = 0, before: int = 0, limit: int = 100,
    review_status: str = "",
) -> list[BrandMention]:
    """Mentions at or above `min_severity` (and in `review_status`, if given), newest first;
    `before` an id pages back."""
    query = select(BrandMention).where(BrandMention.severity >= min_severity)
    if review_status:
        query = query.where(BrandMention.review_status == review_status)
    if before:
        query = query.where(BrandMention.id < before)
    return list(session.scalars(query.order_by(BrandMention.id.desc()).limit(limit)))


def feed_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(FeedState)) or 0


def failing_feeds(session: Session) -> Sequence[FeedState]:
    query = select(FeedState).where(FeedState.error_count > 0).order_by(FeedState.feed_url)
    return session.scalars(query).all()
