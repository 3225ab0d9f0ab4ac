"""Counts the dashboard and the annual filtering review need beyond `monitor.store.queries`:
per rule, per action and category, per review status, per policy version; failing feeds; policy
changes made through the console. Synchronous, taking a Session; no pupil identities."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import AuditEntry, Event, FeedState, UnblockRequest


@dataclass(frozen=True, slots=True)
class RuleCount:
    rule: str
    rule_source: str
    events: int
    sightings: int


@dataclass(frozen=True, slots=True)
class PolicyVersion:
    version: str
    first_seen: datetime
    last_seen: datetime
    events: int


def _period(since: datetime, until: datetime | None) -> list[object]:
    where: list[object] = [Event.last_seen >= since]
    if until is not None:
        where.append(Event.last_seen < until)
    return where


def rule_counts(
    session: Session, since: datetime, until: datetime | None = None, *, limit: int = 10
) -> list[RuleCount]:
    events = func.count().label("events")
    query = (
        select(Event.rule, func.max(Event.rule_source), events, func.sum(Event.repeat_count))
        .where(*_period(since, until))  # type: ignore[arg-type]
        .group_by(Event.rule)
        .order_by(events.desc(), Event.rule)
        .limit(limit)
    )
    return [
        RuleCount(rule or "(none)", source or "", int(n), int(s or 0))
        for rule, source, n, s in session.execute(query)
    ]


def action_category_counts(
    session: Session, since: datetime, until: datetime | None = None
) -> list[tuple[str, str, int, int]]:
    """(category, action, events, sightings), most events first."""
    events = func.count().label("events")
    query = (
        select(Event.category, Event.action, events, func.sum(Event.repeat_count))
        .where(*_period(since, until))  # type: ignore[arg-type]
        .group_by(Event.category, Event.action)
        .order_by(events.desc())
    )
    return [(c or "(none)", a, int(n), int(s or 0)) for c, a, n, s in session.execute(query)]


def status_counts(
    session: Session, since: datetime, until: datetime | None = None
) -> dict[str, int]:
    query = (
        select(Event.status, func.count())
        .where(*_period(since, until))  # type: ignore[arg-type]
        .group_by(Event.status)
    )
    return {status: int(n) for status, n in session.execute(query)}


def policy_versions(
    session: Session, since: datetime, until: datetime | None = None
) -> list[PolicyVersion]:
    query = (
        select(
            Event.policy_version,
            func.min(Event.first_seen),
            func.max(Event.last_seen),
            func.count(),
        )
        .where(*_period(since, until))  # type: ignore[arg-type]
        .group_by(Event.policy_version)
        .order_by(func.min(Event.first_seen))
    )
    return [
        PolicyVersion(v or "(unknown)", first, last, int(n))
        for v, first, last, n in session.execute(query)
    ]


def newest_policy_version(session: Session) -> str | None:
    query = select(Event.policy_version).order_by(Event.last_seen.desc(), Event.pk.desc()).limit(1)
    return session.scalar(query)


def console_policy_changes(
    session: Session, since: datetime, until: datetime | None = None
) -> Sequence[AuditEntry]:
    """Allowlist entries and exemptions approved (and requests denied) through the console."""
    query = select(AuditEntry).where(
        AuditEntry.action.in_(["unblock.approve", "unblock.deny"]), AuditEntry.at >= since
    )
    if until is not None:
        query = query.where(AuditEntry.at < until)
    return session.scalars(query.order_by(AuditEntry.at)).all()


def unblock_counts(
    session: Session, since: datetime, until: datetime | None = None
) -> dict[str, int]:
    query = select(UnblockRequest.status, func.count()).where(UnblockRequest.requested_at >= since)
    if until is not None:
        query = query.where(UnblockRequest.requested_at < until)
    return {status: int(n) for status, n in session.execute(query.group_by(UnblockRequest.status))}


def failing_feeds(session: Session) -> Sequence[FeedState]:
    query = select(FeedState).where(FeedState.error_count > 0).order_by(FeedState.feed_url)
    return session.scalars(query).all()
