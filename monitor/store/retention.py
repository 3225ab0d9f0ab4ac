"""Retention: what the store holds about pupils is kept for a set time, then purged (365 days).

Rules (docs/store.md), all counted against one cut-off (now minus the retention period):

- **Events** go when their last sighting *and* their last review change are both older than the
  cut-off, unless they are an open case (escalated or referred): those stay until their case is
  closed, and then for the period counted from the closing. Their receipts and audit trail go
  with them (the audit guard allows deleting trail rows only once their event is gone).
- **Unblock requests** (a requester and a URL: pupil data) go once decided (approved or denied)
  when both the request and the decision are older than the cut-off. Pending ones stay, however
  old, until someone decides them. Their audit trail (subject `unblock:N`) goes with them (the
  guard, migration 0004, allows deleting those rows only once request N is gone).
- **Brand mentions** go when last seen and last reviewed before the cut-off, unless their review
  is an open case (escalated or referred) or they are linked to an event the store keeps (an
  open case, or one still within its period). Their feed sightings go with them, and so does
  their audit trail (subject `mention:N`: the Prevent lead's notes can name a pupil; the guard,
  migration 0008, allows deleting those rows only once mention N is gone).
- **The context log** (hosts a pupil reached, `monitor.store.contextlog`) has its own, short
  period (`context_days`, the config's `gateway.context_log_days`, 7 by default; 0 purges all).
- Digests-sent records stay: they hold counts, periods and recipients (staff), no pupil data.

    plan = plan_purge(session, older_than_days=365)      # what would go (the --dry-run answer)
    result = purge(session, older_than_days=365, context_days=7)  # in batches; caller commits
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from monitor.store.contextlog import DEFAULT_CONTEXT_DAYS, count_context, purge_context
from monitor.store.mentionreview import OPEN_MENTIONS
from monitor.store.models import (
    OPEN_CASES,
    AuditEntry,
    BrandMention,
    BrandSighting,
    Event,
    UnblockRequest,
)

DEFAULT_RETENTION_DAYS = 365
BATCH = 5000
PENDING_UNBLOCK = "open"  # the console's status for a request nobody has decided yet
# The subjects the audit guard lets go once their request is gone (migration 0004): exactly
# what the console writes, `unblock:` and the request's id. Anything else must not be tried, or
# the guard would refuse and fail the whole purge.
UNBLOCK_SUBJECT = re.compile(r"unblock:([1-9][0-9]{0,17})")
MENTION_SUBJECT = re.compile(r"mention:([1-9][0-9]{0,17})")  # the same for mentions (0008)


@dataclass(frozen=True, slots=True)
class PurgePlan:
    """What a purge at `cutoff` would delete, and what it would keep although old."""

    cutoff: datetime
    events: int  # events that would go
    repeats: int  # sightings they stand for
    audit_entries: int
    held_open_cases: int  # old enough, kept because escalated or referred
    oldest: datetime | None
    unblock_requests: int = 0  # decided requests that would go
    unblock_audit_entries: int = 0  # their audit trail (and any left by requests already gone)
    held_pending_requests: int = 0  # old, kept because nobody has decided them yet
    mentions: int = 0  # brand mentions that would go
    mention_sightings: int = 0  # their feed sightings
    held_mentions: int = 0  # old, kept because linked to an event that stays or an open case
    mention_audit_entries: int = 0  # their audit trail (review changes and notes)
    context_rows: int = 0  # context-log rows older than their own (short) period
    context_cutoff: datetime | None = None

    def describe(self) -> str:
        oldest = f", oldest {self.oldest.date().isoformat()}" if self.oldest else ""
        lines = [
            f"cut-off: {self.cutoff.isoformat(timespec='seconds')}",
            f"events to purge: {self.events} ({self.repeats} sightings{oldest})",
            f"audit entries to purge with them: {self.audit_entries}",
            f"kept as open cases (escalated or referred): {self.held_open_cases}",
            f"decided unblock requests to purge: {self.unblock_requests} "
            f"(with {self.unblock_audit_entries} audit entries)",
            f"kept as pending unblock requests (not yet decided): {self.held_pending_requests}",
            f"brand mentions to purge: {self.mentions} "
            f"(with {self.mention_sightings} feed sightings)",
            f"audit entries of those mentions to purge: {self.mention_audit_entries}",
            f"kept as brand mentions of events still kept or open cases: {self.held_mentions}",
            f"context-log rows (hosts only) to purge: {self.context_rows}"
            + (f", older than {self.context_cutoff:%Y-%m-%d %H:%M}" if self.context_cutoff else ""),
            "digests-sent records are kept (counts and recipients, no pupil data)",
        ]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cutoff: datetime
    events: int
    audit_entries: int
    unblock_requests: int = 0
    mentions: int = 0
    mention_sightings: int = 0
    unblock_audit_entries: int = 0
    context_rows: int = 0
    mention_audit_entries: int = 0

    def __str__(self) -> str:
        return (
            f"purged {self.events} events and {self.audit_entries} audit entries, "
            f"{self.unblock_requests} decided unblock requests "
            f"({self.unblock_audit_entries} audit entries), {self.mentions} brand mentions "
            f"({self.mention_sightings} feed sightings, "
            f"{self.mention_audit_entries} audit entries), {self.context_rows} context-log rows, "
            f"all older than {self.cutoff.isoformat(timespec='seconds')}"
        )


def cutoff_for(older_than_days: int, now: datetime | None = None) -> datetime:
    if older_than_days < 0:
        raise ValueError(f"--older-than must be 0 or more days, not {older_than_days}")
    return (now or datetime.now(UTC)) - timedelta(days=older_than_days)


def _expired(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        Event.last_seen < cutoff,
        or_(Event.status_changed_at.is_(None), Event.status_changed_at < cutoff),
        Event.status.not_in([status.value for status in OPEN_CASES]),
    )


def _unblock_expired(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        UnblockRequest.status != PENDING_UNBLOCK,
        UnblockRequest.requested_at < cutoff,
        or_(UnblockRequest.decided_at.is_(None), UnblockRequest.decided_at < cutoff),
    )


def _mention_held(cutoff: datetime) -> ColumnElement[bool]:
    # Linked events are looked up among the events still stored, so this holds before the event
    # purge (dry run) and after it (the purge itself): an expired event does not hold its
    # mention back.
    return or_(
        BrandMention.review_status.in_([status.value for status in OPEN_MENTIONS]),
        exists().where(Event.event_id == BrandMention.event_id, not_(_expired(cutoff))),
    )


def _mention_old(cutoff: datetime) -> ColumnElement[bool]:
    return and_(
        BrandMention.last_seen < cutoff,
        or_(BrandMention.status_changed_at.is_(None), BrandMention.status_changed_at < cutoff),
    )


def _mention_expired(cutoff: datetime) -> ColumnElement[bool]:
    return and_(_mention_old(cutoff), not_(_mention_held(cutoff)))


def _count(session: Session, entity: Any, *where: ColumnElement[bool]) -> int:
    return int(session.scalar(select(func.count()).select_from(entity).where(*where)) or 0)


def plan_purge(
    session: Session,
    older_than_days: int = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
    *,
    context_days: int = DEFAULT_CONTEXT_DAYS,
) -> PurgePlan:
    cutoff = cutoff_for(older_than_days, now)
    context_cutoff = cutoff_for(context_days, now)
    expired = _expired(cutoff)
    sightings = func.coalesce(func.sum(Event.repeat_count), 0)
    count, repeats, oldest = session.execute(
        select(func.count(), sightings, func.min(Event.first_seen)).where(expired)
    ).one()
    mention_expired = _mention_expired(cutoff)
    return PurgePlan(
        cutoff=cutoff,
        events=int(count),
        repeats=int(repeats),
        audit_entries=_count(
            session, AuditEntry, exists().where(Event.event_id == AuditEntry.event_id, expired)
        ),
        held_open_cases=_count(
            session,
            Event,
            Event.last_seen < cutoff,
            Event.status.in_([status.value for status in OPEN_CASES]),
        ),
        oldest=oldest,
        unblock_requests=_count(session, UnblockRequest, _unblock_expired(cutoff)),
        unblock_audit_entries=sum(
            len(ids) for ids in _trail_to_purge(session, UNBLOCK, _unblock_expired(cutoff))
        ),
        held_pending_requests=_count(
            session,
            UnblockRequest,
            UnblockRequest.status == PENDING_UNBLOCK,
            UnblockRequest.requested_at < cutoff,
        ),
        mentions=_count(session, BrandMention, mention_expired),
        mention_sightings=_count(
            session,
            BrandSighting,
            exists().where(BrandMention.id == BrandSighting.mention_id, mention_expired),
        ),
        held_mentions=_count(
            session, BrandMention, _mention_old(cutoff), _mention_held(cutoff)
        ),
        mention_audit_entries=sum(
            len(ids) for ids in _trail_to_purge(session, MENTION, mention_expired)
        ),
        context_rows=count_context(session, context_cutoff),
        context_cutoff=context_cutoff,
    )


def purge(
    session: Session,
    older_than_days: int = DEFAULT_RETENTION_DAYS,
    now: datetime | None = None,
    *,
    context_days: int = DEFAULT_CONTEXT_DAYS,
) -> PurgeResult:
    """Delete what has expired (see the module docstring), in batches; the caller commits."""
    cutoff = cutoff_for(older_than_days, now)
    events, audit = _purge_events(session, cutoff)
    requests = _purge_by_id(session, UnblockRequest, UnblockRequest.id, _unblock_expired(cutoff))
    # The requests are gone, so the audit guard lets their trail go too. This also takes rows
    # left by requests purged before migration 0004, when the guard still refused them.
    unblock_audit = _purge_trail(session, UNBLOCK)
    mentions = sightings = 0
    mention_expired = _mention_expired(cutoff)
    while ids := list(
        session.scalars(select(BrandMention.id).where(mention_expired).limit(BATCH))
    ):
        # Sightings would go by the foreign key's cascade; deleting them first counts them and
        # does not depend on SQLite's foreign_keys pragma.
        gone = session.execute(delete(BrandSighting).where(BrandSighting.mention_id.in_(ids)))
        sightings += _rowcount(gone)
        session.execute(delete(BrandMention).where(BrandMention.id.in_(ids)))
        mentions += len(ids)
    # The mentions are gone, so the guard lets their trail go too (migration 0008).
    mention_audit = _purge_trail(session, MENTION)
    return PurgeResult(
        cutoff=cutoff,
        events=events,
        audit_entries=audit,
        unblock_requests=requests,
        mentions=mentions,
        mention_sightings=sightings,
        unblock_audit_entries=unblock_audit,
        context_rows=purge_context(session, cutoff_for(context_days, now)),
        mention_audit_entries=mention_audit,
    )


@dataclass(frozen=True, slots=True)
class _Subject:
    """Audit rows about no event but about one row of `entity`, named `prefix` + its id."""

    prefix: str
    pattern: re.Pattern[str]
    entity: Any
    key: Any


UNBLOCK = _Subject("unblock:", UNBLOCK_SUBJECT, UnblockRequest, UnblockRequest.id)
MENTION = _Subject("mention:", MENTION_SUBJECT, BrandMention, BrandMention.id)


def _purge_trail(session: Session, kind: _Subject) -> int:
    """Delete the audit rows whose request or mention is gone; how many went."""
    total = 0
    for ids in _trail_to_purge(session, kind):
        session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
        total += len(ids)
    return total


def _trail_to_purge(
    session: Session, kind: _Subject, going: ColumnElement[bool] | None = None
) -> Iterator[list[int]]:
    """Ids of audit rows about requests (or mentions) that no longer exist (or match `going`),
    in batches. Walks the trail's `unblock:` (`mention:`) rows by id and looks their rows up by
    primary key, rather than joining on a built string, so the cost stays linear in the trail."""
    after = 0
    while rows := session.execute(
        select(AuditEntry.id, AuditEntry.subject)
        .where(
            AuditEntry.id > after,
            AuditEntry.event_id.is_(None),
            AuditEntry.subject.like(kind.prefix + "%"),
        )
        .order_by(AuditEntry.id)
        .limit(BATCH)
    ).all():
        after = rows[-1][0]
        wanted: dict[int, list[int]] = {}
        for row_id, subject in rows:
            if match := kind.pattern.fullmatch(subject or ""):
                wanted.setdefault(int(match[1]), []).append(row_id)
        if not wanted:
            continue
        staying = select(kind.key).where(kind.key.in_(list(wanted)))
        if going is not None:
            staying = staying.where(not_(going))
        for row_id in session.scalars(staying):
            del wanted[row_id]
        if ids := [row_id for row_ids in wanted.values() for row_id in row_ids]:
            yield ids


def _purge_events(session: Session, cutoff: datetime) -> tuple[int, int]:
    """Expired events, their receipts (cascade) and their audit trail."""
    expired = _expired(cutoff)
    events = audit = 0
    while batch := list(
        session.execute(select(Event.pk, Event.event_id).where(expired).limit(BATCH)).all()
    ):
        pks = [pk for pk, _ in batch]
        ids = [event_id for _, event_id in batch]
        session.execute(delete(Event).where(Event.pk.in_(pks)))
        # The events are gone, so the audit guard lets their trail go too.
        gone = session.execute(delete(AuditEntry).where(AuditEntry.event_id.in_(ids)))
        events += len(pks)
        audit += _rowcount(gone)
    return events, audit


def _purge_by_id(session: Session, entity: Any, key: Any, where: ColumnElement[bool]) -> int:
    total = 0
    while ids := list(session.scalars(select(key).where(where).limit(BATCH))):
        session.execute(delete(entity).where(key.in_(ids)))
        total += len(ids)
    return total


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)
