"""Retention: flagged events are kept for a set time, then purged (default 365 days).

Rule (docs/store.md): an event goes when its last sighting *and* its last review change are both
older than the cut-off, unless it is an open case (escalated or referred): those stay until
their case is closed, and then for the retention period counted from the closing. Its receipts
and its audit trail go with it (the audit guard allows deleting trail rows only once their event
is gone).

    plan = plan_purge(session, older_than_days=365)      # what would go (the --dry-run answer)
    result = purge(session, older_than_days=365)         # delete in batches; caller commits
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, func, or_, select
from sqlalchemy.orm import Session

from monitor.store.models import OPEN_CASES, AuditEntry, Event

DEFAULT_RETENTION_DAYS = 365
BATCH = 5000


@dataclass(frozen=True, slots=True)
class PurgePlan:
    cutoff: datetime
    events: int  # events that would go
    repeats: int  # sightings they stand for
    audit_entries: int
    held_open_cases: int  # old enough, kept because escalated or referred
    oldest: datetime | None

    def describe(self) -> str:
        lines = [
            f"cut-off: {self.cutoff.isoformat(timespec='seconds')}",
            f"events to purge: {self.events} ({self.repeats} sightings"
            + (f", oldest {self.oldest.date().isoformat()})" if self.oldest else ")"),
            f"audit entries to purge with them: {self.audit_entries}",
            f"kept as open cases (escalated or referred): {self.held_open_cases}",
        ]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    cutoff: datetime
    events: int
    audit_entries: int


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


def plan_purge(
    session: Session, older_than_days: int = DEFAULT_RETENTION_DAYS, now: datetime | None = None
) -> PurgePlan:
    cutoff = cutoff_for(older_than_days, now)
    expired = _expired(cutoff)
    sightings = func.coalesce(func.sum(Event.repeat_count), 0)
    count, repeats, oldest = session.execute(
        select(func.count(), sightings, func.min(Event.first_seen)).where(expired)
    ).one()
    audit = session.scalar(
        select(func.count())
        .select_from(AuditEntry)
        .where(exists().where(Event.event_id == AuditEntry.event_id, expired))
    )
    held = session.scalar(
        select(func.count())
        .select_from(Event)
        .where(
            Event.last_seen < cutoff,
            Event.status.in_([status.value for status in OPEN_CASES]),
        )
    )
    return PurgePlan(
        cutoff=cutoff,
        events=int(count),
        repeats=int(repeats),
        audit_entries=int(audit or 0),
        held_open_cases=int(held or 0),
        oldest=oldest,
    )


def purge(
    session: Session, older_than_days: int = DEFAULT_RETENTION_DAYS, now: datetime | None = None
) -> PurgeResult:
    """Delete expired events, their receipts (cascade) and their audit trail, in batches."""
    cutoff = cutoff_for(older_than_days, now)
    expired = _expired(cutoff)
    events = audit = 0
    while True:
        batch: list[Any] = list(
            session.execute(select(Event.pk, Event.event_id).where(expired).limit(BATCH)).all()
        )
        if not batch:
            break
        pks = [pk for pk, _ in batch]
        ids = [event_id for _, event_id in batch]
        session.execute(delete(Event).where(Event.pk.in_(pks)))
        # The events are gone, so the audit guard lets their trail go too.
        gone = session.execute(delete(AuditEntry).where(AuditEntry.event_id.in_(ids)))
        events += len(pks)
        audit += int(getattr(gone, "rowcount", 0) or 0)
    return PurgeResult(cutoff=cutoff, events=events, audit_entries=audit)
