"""The flagged-events store's tables, as typed SQLAlchemy 2 models.

One module for every table, so every part builds on the same names. Schema changes go through
Alembic (`monitor/store/migrations/`); tests/store/test_store_migrations.py fails without one.

Tables:

- `Event` (``events``): one flagged, blocked or study event for the Prevent lead, after folding
  of repeats (DESIGN.md contract 4). `event_id` is the `FlaggedEvent.id` made at birth.
- `EventReceipt` (``event_receipts``): every `FlaggedEvent.id` the writer has accepted and the
  event it went into, so that replaying a spool never counts a repeat twice.
- `AuditEntry` (``audit_trail``): append-only record of who did what (review changes,
  assignment, notes, console actions). Triggers refuse UPDATE, and refuse DELETE while the event
  it belongs to still exists (retention removes the trail only together with its event).
- `BrandMention`, `BrandSighting`, `FeedState`: the watcher's findings (with the lead's review
  of each, `MentionReview`), the feed entries that led to them, and per-feed polling state.
- `ContextEntry` (``context_log``): the optional host-only context log, one row per identity,
  minute, host and action with the number of requests; no path, no query, no page body.
- `ConsoleUser`, `UnblockRequest`, `DigestSent`: the review console's users (role, argon2 hash),
  unblock requests from pupils or staff, and the brand-alert digests sent.
- `PolicyRevision` (``policy_versions``, in `monitor.store.versionmodel`): every recorded version
  of the policy's files, with who, when, why and the diff.

Times are stored in UTC and always come back timezone-aware (`UTCDateTime`).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from monitor.store.modelbase import NAMING, Base, BigID, UTCDateTime, school_column
from monitor.store.versionmodel import PolicyRevision

__all__ = ["NAMING", "Base", "BigID", "PolicyRevision", "UTCDateTime"]

class ReviewStatus(StrEnum):
    """Where the Prevent lead is with an event (issue 3, point 6)."""

    NEW = "new"
    IN_REVIEW = "in_review"
    ESCALATED = "escalated"
    REFERRED = "referred"  # needs a referral reference (MASH, Channel)
    CLOSED_NO_CONCERN = "closed_no_concern"
    FALSE_POSITIVE = "false_positive"


# Cases the retention purge keeps until they are closed.
OPEN_CASES = (ReviewStatus.ESCALATED, ReviewStatus.REFERRED)


class MentionReview(StrEnum):
    """Where the Prevent lead's review of a brand mention stands (`BrandMention.review_status`).
    The values shared with events are `ReviewStatus`'s, so counts and filters read alike."""

    NEW = ReviewStatus.NEW.value
    IN_REVIEW = ReviewStatus.IN_REVIEW.value
    NO_ACTION = ReviewStatus.CLOSED_NO_CONCERN.value  # reviewed: nothing to do
    DISMISSED = "dismissed"  # not about the school (a namesake), or noise
    ESCALATED = ReviewStatus.ESCALATED.value
    REFERRED = ReviewStatus.REFERRED.value  # needs a reference (police, Prevent, the platform)


class Role(StrEnum):
    """What a console user may see and do. IT staff see counts and rules, not pupils' names."""

    ADMIN = "admin"
    PREVENT_LEAD = "prevent_lead"  # the DSL / Prevent lead: identities, review, referral
    IT_STAFF = "it_staff"  # lists, unblock requests, health; no identities
    TEACHER = "teacher"  # asks for study exemptions
    COMMS = "comms"  # reads the brand-alert digest


class Event(Base):
    """A flagged event as the Prevent lead sees it: one row per folded run of repeats."""

    __tablename__ = "events"

    pk: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    school: Mapped[str] = school_column()  # monitor.schools; migration 0011
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(128))
    severity: Mapped[int] = mapped_column(SmallInteger, default=0)
    rule: Mapped[str | None] = mapped_column(String(256))
    rule_source: Mapped[str | None] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(String(8192))
    host: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str] = mapped_column(String(2048), default="")
    search_terms: Mapped[str | None] = mapped_column(String(1024))
    # `user` and `group` are SQL keywords: plain column names keep hand-written SQL simple.
    user: Mapped[str | None] = mapped_column("user_name", String(128))
    device: Mapped[str | None] = mapped_column(String(128))
    client_ip: Mapped[str | None] = mapped_column(String(64))
    group: Mapped[str | None] = mapped_column("group_name", String(128))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    repeat_count: Mapped[int] = mapped_column(Integer, default=1)
    fold_key: Mapped[str] = mapped_column(String(40))  # sha1 of FlaggedEvent.fold_key()
    status: Mapped[str] = mapped_column(String(20), default=ReviewStatus.NEW.value)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assignee: Mapped[str | None] = mapped_column(String(128))
    referral_ref: Mapped[str | None] = mapped_column(String(128))
    # The instant alert that told the Prevent lead of this event (None: not alerted, or below
    # the alerting severity). Added by migration 0006.
    alert_id: Mapped[int | None] = mapped_column(BigID, index=True)
    # Visits whose search term / path was not kept in event_details (past its bound). 0007.
    more_terms: Mapped[int] = mapped_column(Integer, default=0)
    more_paths: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        # Folding looks up the open event for a key; keyset pages walk (sort column, pk).
        Index("ix_events_fold", "fold_key", "first_seen"),
        Index("ix_events_last_seen", "last_seen", "pk"),
        Index("ix_events_first_seen", "first_seen", "pk"),
        Index("ix_events_status_last_seen", "status", "last_seen", "pk"),
        Index("ix_events_severity_last_seen", "severity", "last_seen", "pk"),
        Index("ix_events_user_last_seen", "user_name", "last_seen"),
        Index("ix_events_device_last_seen", "device", "last_seen"),
        Index("ix_events_category_last_seen", "category", "last_seen"),
        # A school's Prevent lead's first page, in a trust of many schools on one store.
        Index("ix_events_school_last_seen", "school", "last_seen", "pk"),
    )


class EventDetail(Base):
    """One distinct search term or URL path of the visits an event folds, with its count."""

    __tablename__ = "event_details"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(BigID, ForeignKey("events.pk", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # term | path
    value: Mapped[str] = mapped_column(String(1024))
    count: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (UniqueConstraint("event_pk", "kind", "value"),)


class EventReceipt(Base):
    """Every accepted `FlaggedEvent.id`, folded or not: the writer's idempotency record."""

    __tablename__ = "event_receipts"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_pk: Mapped[int] = mapped_column(
        BigID, ForeignKey("events.pk", ondelete="CASCADE"), index=True
    )


class AuditEntry(Base):
    """One line of the append-only audit trail: who did what, when, and why."""

    __tablename__ = "audit_trail"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))  # status | assign | note | console action
    event_id: Mapped[str | None] = mapped_column(String(64), index=True)  # no FK: see docstring
    subject: Mapped[str | None] = mapped_column(String(128))  # e.g. "unblock:12", "user:alice"
    from_value: Mapped[str | None] = mapped_column(String(128))
    to_value: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)
    # The school of the event or request acted on; None for trust-wide actions (accounts).
    school: Mapped[str | None] = mapped_column(String(32))


class BrandMention(Base):
    """A place on the web where the watcher found the school named."""

    __tablename__ = "brand_mentions"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    mention_key: Mapped[str] = mapped_column(String(64))  # dedupe key (watcher's), per school
    school: Mapped[str] = school_column()  # whose name was found (0011)
    feed: Mapped[str] = mapped_column(String(2048))
    url: Mapped[str] = mapped_column(String(8192))
    title: Mapped[str | None] = mapped_column(String(1024))
    snippet: Mapped[str | None] = mapped_column(String(2048))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    seen_count: Mapped[int] = mapped_column(Integer, default=1)
    category: Mapped[str | None] = mapped_column(String(128))
    severity: Mapped[int] = mapped_column(SmallInteger, default=0)
    rule: Mapped[str | None] = mapped_column(String(256))
    event_id: Mapped[str | None] = mapped_column(String(64))  # the FlaggedEvent, if one was made
    digest_id: Mapped[int | None] = mapped_column(
        BigID, ForeignKey("digests_sent.id", ondelete="SET NULL"), index=True
    )
    # Added by the watcher (migration 0003):
    feed_label: Mapped[str | None] = mapped_column(String(256))
    publisher: Mapped[str | None] = mapped_column(String(512))  # the site, or Google News source
    state: Mapped[str] = mapped_column(String(16), default="new")  # new | backlog (first poll)
    reason: Mapped[str | None] = mapped_column(String(2048))  # why it was flagged
    rule_source: Mapped[str | None] = mapped_column(String(512))  # list file:line
    alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # emailed to the Prevent lead
    # The Prevent lead's review (migration 0008); `state` above stays the watcher's new | backlog.
    review_status: Mapped[str] = mapped_column(
        String(20), default=MentionReview.NEW.value, index=True
    )
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referral_ref: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (UniqueConstraint("school", "mention_key"),)


class BrandSighting(Base):
    """An entry of one feed that led to a mention: per-feed dedupe on the entry's id."""

    __tablename__ = "brand_sightings"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    feed_key: Mapped[str] = mapped_column(String(64))  # sha256 of the feed URL
    entry_key: Mapped[str] = mapped_column(String(64))  # sha256 of the entry id (or fallback)
    mention_id: Mapped[int] = mapped_column(
        BigID, ForeignKey("brand_mentions.id", ondelete="CASCADE"), index=True
    )
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)

    # Per mention, so two schools watching one feed each keep their own sightings (0011).
    __table_args__ = (UniqueConstraint("feed_key", "entry_key", "mention_id"),)


class FeedState(Base):
    """Polling state of one school's search-alert feed (conditional GET, back-off)."""

    __tablename__ = "feed_state"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    # Per school (0013): two schools watching one feed URL each keep their own validators and
    # times, or the second's conditional GET would be answered 304 on the first's ETag.
    school: Mapped[str] = school_column()
    feed_url: Mapped[str] = mapped_column(String(2048))
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(2048))
    # Added by the watcher (migration 0003):
    label: Mapped[str | None] = mapped_column(String(256))
    kind: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | ok | warning | error
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the last HTTP status
    last_summary: Mapped[str | None] = mapped_column(String(512))  # what the last poll found

    __table_args__ = (UniqueConstraint("school", "feed_url"),)


class ConsoleUser(Base):
    """Someone who signs in to the review console."""

    __tablename__ = "console_users"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(128), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20))  # a Role value
    password_hash: Mapped[str] = mapped_column(String(256))  # argon2 (argon2-cffi) encoded hash
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A one-time password is still in use: the console asks for a new one before anything else.
    password_change_due: Mapped[bool] = mapped_column(Boolean, default=False)
    # Which schools' pupils the account sees: "*" every school (a trust-wide role), else a
    # comma-separated list of school ids; empty: none (the console says why). Migration 0011.
    schools: Mapped[str] = mapped_column(String(1024), default="")


class UnblockRequest(Base):
    """A request to unblock a page, answered by IT staff."""

    __tablename__ = "unblock_requests"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    school: Mapped[str] = school_column()  # the blocked event's school, else the console's (0011)
    requester: Mapped[str | None] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(String(8192))
    host: Mapped[str | None] = mapped_column(String(255))
    rule: Mapped[str | None] = mapped_column(String(256))
    reason: Mapped[str | None] = mapped_column(String(2048))
    event_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(2048))


class DigestSent(Base):
    """One brand-alert digest email that went out (or failed to)."""

    __tablename__ = "digests_sent"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    school: Mapped[str] = school_column()  # the school's digest, or "*": the trust-wide one
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    recipients: Mapped[str] = mapped_column(String(4096))
    mention_count: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="sent")  # sent | failed
    message_id: Mapped[str | None] = mapped_column(String(512))
    error: Mapped[str | None] = mapped_column(String(2048))
    # Added by the watcher (migration 0003): one digest per period, whatever restarts happen.
    period_key: Mapped[str | None] = mapped_column(String(64), unique=True)  # "daily:2025-03-04"


class SafeguardingAlert(Base):
    """One instant alert to the Prevent lead: the serious events of one identity (user, else
    device, else client address) in one window, sent by email and, if set, by webhook.

    Each channel's state is `pending`, `sent` or `off` (not configured). A failed send keeps the
    row pending with its error and the time of the next try: an alert is never dropped, and a
    row is sent at most once per channel (the mail's Message-ID is the row's, so a resend after
    a crash between sending and recording is recognisable as the same message)."""

    __tablename__ = "safeguarding_alerts"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    school: Mapped[str] = school_column()  # alerts go to this school's addresses (0011)
    identity: Mapped[str] = mapped_column(String(200))  # "user:x" | "device:x" | "address:x"
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime)  # gathering a burst, or retry
    event_count: Mapped[int] = mapped_column(Integer, default=0)
    worst_severity: Mapped[int] = mapped_column(SmallInteger, default=0)
    mail_state: Mapped[str] = mapped_column(String(8), default="pending")
    webhook_state: Mapped[str] = mapped_column(String(8), default="off")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(1024))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index("ix_safeguarding_alerts_identity", "school", "identity", "window_start"),
        Index("ix_safeguarding_alerts_due", "sent_at", "send_after"),
    )


class ContextEntry(Base):
    """Host-only context around events: who visited which host in which minute, and what the
    gateway did (block, flag, study, allow), with the number of requests folded in. Kept for
    `gateway.context_log_days` (7), then purged; the Prevent lead alone sees it, and each look
    is recorded in the audit trail."""

    __tablename__ = "context_log"

    id: Mapped[int] = mapped_column(BigID, primary_key=True, autoincrement=True)
    school: Mapped[str] = school_column()  # (0011)
    identity: Mapped[str] = mapped_column(String(200))  # "user:x" | "device:x" | "address:x"
    minute: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # UTC, seconds cut off
    host: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(8))
    requests: Mapped[int] = mapped_column(Integer, default=1)

    __table_args__ = (UniqueConstraint("school", "identity", "minute", "host", "action"),)
