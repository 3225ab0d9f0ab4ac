"""Counts the dashboard, the annual filtering review and the digest need beyond
`monitor.store.queries`: per rule, per action and category, per review status, per policy
version; every policy change (recorded versions, unblock decisions); the gateway's events for a
digest period.
Synchronous, taking a Session; no pupil identities."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.mentionreview import mention_status_counts
from monitor.store.mentions import failing_feeds, feed_count
from monitor.store.models import AuditEntry, Event, FeedState, PolicyRevision, UnblockRequest
from monitor.store.policyversions import KIND_NAMES, versions_between
from monitor.store.queries import (
    CategoryCount,
    DayCount,
    EventFilter,
    counts_per_category,
    counts_per_day,
)
from monitor.store.unblock import open_request_count


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


@dataclass(frozen=True, slots=True)
class PolicyChange:
    """One change to the policy in the annual review: a recorded policy version (an edit in
    the console, a rollback, an approved unblock request, a change made outside the console)
    or an unblock request denied."""

    at: datetime
    actor: str
    action: str
    detail: str
    note: str = ""
    version: int | None = None


def console_policy_changes(
    session: Session, since: datetime, until: datetime | None = None, school: str | None = None
) -> list[PolicyChange]:
    """Every recorded policy version of `school`'s console (every school's when None) and the
    unblock requests denied, oldest first. Approvals made before the console recorded versions
    come from the audit trail; later ones are versions (kind `unblock`)."""
    end = until or datetime.max.replace(tzinfo=UTC)
    changes = [
        PolicyChange(
            v.recorded_at, v.who, f"policy version {v.number} ({KIND_NAMES.get(v.kind, v.kind)})",
            v.summary, v.reason, v.number,
        )
        for v in versions_between(session, since, end, school)
    ]  # fmt: skip
    first = session.scalar(
        select(func.min(PolicyRevision.recorded_at)).where(
            *([PolicyRevision.school == school] if school is not None else [])
        )
    )
    query = select(AuditEntry).where(
        AuditEntry.action.in_(["unblock.approve", "unblock.deny"]),
        AuditEntry.at >= since,
        AuditEntry.at < end,
    )
    for entry in session.scalars(query):
        if entry.action == "unblock.approve" and first is not None and entry.at >= first:
            continue  # recorded as a policy version
        detail = entry.to_value or ""
        changes.append(PolicyChange(entry.at, entry.actor, entry.action, detail, entry.note or ""))
    return sorted(changes, key=lambda change: change.at)


def unblock_counts(
    session: Session, since: datetime, until: datetime | None = None
) -> dict[str, int]:
    query = select(UnblockRequest.status, func.count()).where(UnblockRequest.requested_at >= since)
    if until is not None:
        query = query.where(UnblockRequest.requested_at < until)
    return {status: int(n) for status, n in session.execute(query.group_by(UnblockRequest.status))}


@dataclass(frozen=True, slots=True)
class GatewaySummary:
    total: int = 0
    by_action: tuple[tuple[str, int], ...] = ()
    top_categories: tuple[tuple[str, int], ...] = ()
    high: int = 0  # severity high or critical


def gateway_summary(session: Session, start: datetime, end: datetime) -> GatewaySummary:
    """The gateway's events in [start, end): counts only, never who."""
    in_period = (Event.source == "gateway", Event.last_seen >= start, Event.first_seen < end)
    by_action = session.execute(
        select(Event.action, func.count()).where(*in_period).group_by(Event.action)
    ).all()
    categories = session.execute(
        select(Event.category, func.count())
        .where(*in_period, Event.category.is_not(None))
        .group_by(Event.category)
        .order_by(func.count().desc(), Event.category)
        .limit(5)
    ).all()
    high = session.scalar(select(func.count()).where(*in_period, Event.severity >= 3)) or 0
    return GatewaySummary(
        total=sum(count for _, count in by_action),
        by_action=tuple(sorted(((str(a), int(c)) for a, c in by_action), key=lambda p: -p[1])),
        top_categories=tuple((str(c), int(n)) for c, n in categories),
        high=int(high),
    )


@dataclass(frozen=True, slots=True)
class Overview:
    """The dashboard's figures since a time."""

    days: list[DayCount]
    categories: list[CategoryCount]
    rules: list[RuleCount]
    feeds: list[FeedState]
    feed_count: int
    open_requests: int
    newest_version: str


def overview(session: Session, since: datetime) -> Overview:
    flt = EventFilter(since=since)
    return Overview(
        days=counts_per_day(session, flt),
        categories=counts_per_category(session, flt)[:10],
        rules=rule_counts(session, since),
        feeds=list(failing_feeds(session)),
        feed_count=feed_count(session),
        open_requests=open_request_count(session),
        newest_version=newest_policy_version(session) or "",
    )


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    """The annual filtering review's figures for [start, end)."""

    counts: list[tuple[str, str, int, int]]  # (category, action, events, sightings)
    months: list[tuple[str, int, int]]  # ("2026-03", events, sightings)
    statuses: dict[str, int]
    versions: list[PolicyVersion]
    changes: list[PolicyChange]
    unblock: dict[str, int]
    mention_statuses: dict[str, int]  # brand mentions first seen in the period, by review status


def review_counts(
    session: Session, start: datetime, end: datetime, school: str | None = None
) -> ReviewCounts:
    """`school`: the console's own, whose policy versions the review lists (None: every
    school's)."""
    months: dict[str, list[int]] = {}
    for day in counts_per_day(session, EventFilter(since=start, until=end)):
        entry = months.setdefault(day.day.strftime("%Y-%m"), [0, 0])
        entry[0] += day.events
        entry[1] += day.sightings
    return ReviewCounts(
        counts=action_category_counts(session, start, end),
        months=[(m, e, s) for m, (e, s) in sorted(months.items())],
        statuses=status_counts(session, start, end),
        versions=policy_versions(session, start, end),
        changes=console_policy_changes(session, start, end, school),
        unblock=unblock_counts(session, start, end),
        mention_statuses=mention_status_counts(session, start, end),
    )
