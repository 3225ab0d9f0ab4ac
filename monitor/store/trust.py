"""A trust's view across its schools: per-school events by severity, open items and response
times (issue #16), and the rows stored under a school the configuration does not know.

    school_summaries(session, since)   # one SchoolSummary per school the caller may see
    unknown_school_events(session, known_ids)

Both run under the caller's school scope (`monitor.store.scope`) like every console read, so a
school's Prevent lead gets their own school's line only.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import Event, ReviewStatus, UnblockRequest

OPEN = (ReviewStatus.NEW.value, ReviewStatus.IN_REVIEW.value, ReviewStatus.ESCALATED.value)


@dataclass
class SchoolSummary:
    school: str
    by_severity: dict[int, int] = field(default_factory=dict)  # events since, per severity
    events: int = 0
    open_events: int = 0  # new, in review or escalated (any age)
    referred: int = 0  # since
    open_requests: int = 0  # unblock requests waiting for IT staff
    triaged: int = 0  # events since whose status has changed from new
    median_response_hours: float | None = None  # first seen to first status change


def school_summaries(session: Session, since: datetime) -> list[SchoolSummary]:
    found: dict[str, SchoolSummary] = {}

    def summary(school: str) -> SchoolSummary:
        return found.setdefault(school, SchoolSummary(school))

    per_severity = select(Event.school, Event.severity, func.count()).where(
        Event.last_seen >= since
    )
    for school, severity, count in session.execute(
        per_severity.group_by(Event.school, Event.severity)
    ):
        line = summary(school)
        line.by_severity[int(severity)] = int(count)
        line.events += int(count)
    open_items = select(Event.school, func.count()).where(Event.status.in_(OPEN))
    for school, count in session.execute(open_items.group_by(Event.school)):
        summary(school).open_events = int(count)
    referred = select(Event.school, func.count()).where(
        Event.status == ReviewStatus.REFERRED.value, Event.last_seen >= since
    )
    for school, count in session.execute(referred.group_by(Event.school)):
        summary(school).referred = int(count)
    requests = select(UnblockRequest.school, func.count()).where(UnblockRequest.status == "open")
    for school, count in session.execute(requests.group_by(UnblockRequest.school)):
        summary(school).open_requests = int(count)
    _response_times(session, since, summary)
    return sorted(found.values(), key=lambda line: line.school)


def _response_times(
    session: Session, since: datetime, summary: Callable[[str], SchoolSummary]
) -> None:
    # The status change is the first response a lead makes; its time is kept on the event.
    triaged = select(Event.school, Event.first_seen, Event.status_changed_at).where(
        Event.first_seen >= since, Event.status_changed_at.is_not(None)
    )
    hours: dict[str, list[float]] = defaultdict(list)
    for school, first_seen, changed in session.execute(triaged):
        if changed is None:
            continue
        hours[school].append(max(0.0, (changed - first_seen).total_seconds() / 3600))
    for school, values in hours.items():
        line = summary(school)
        line.triaged = len(values)
        line.median_response_hours = round(statistics.median(values), 1)


def unknown_school_events(session: Session, known: Iterable[str]) -> int:
    """Events stored under a school the configuration does not know (or "unknown")."""
    query = select(func.count()).select_from(Event).where(Event.school.not_in(sorted(known)))
    return int(session.scalar(query) or 0)
