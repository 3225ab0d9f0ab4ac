"""Reads that are themselves recorded: CSV exports of events and a pupil's timeline.

Looking at who did what is part of the audit trail (issue 7): each function reads and appends
its `AuditEntry` in one transaction, so it runs as a write (`await store.write(...)`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from monitor.store.details import FoldedDetails, details_for
from monitor.store.models import Event
from monitor.store.queries import EventFilter, events_around, get_event, list_events
from monitor.store.review import record


@dataclass(frozen=True, slots=True)
class Exported:
    """An exported event with every search term and path its visits had."""

    event: Event
    folded: FoldedDetails


def export_chosen(
    session: Session, event_ids: Sequence[str], *, actor: str
) -> list[Exported]:
    """The events named (those still stored), recorded as one CSV export."""
    events = []
    for event_id in event_ids:
        detail = get_event(session, event_id)
        if detail is not None:
            events.append(detail.event)
    _record_export(session, actor, events, " ".join(e.event_id for e in events))
    return _with_details(session, events)


def export_matching(
    session: Session, flt: EventFilter, *, sort: str, actor: str, described: str, limit: int
) -> list[Exported]:
    """Every event `flt` matches (up to `limit`), recorded as a CSV export of `described`."""
    page = list_events(session, flt, sort=sort, limit=500)
    events = list(page.events)
    while page.next_cursor and len(events) < limit:
        page = list_events(session, flt, sort=sort, limit=500, after=page.next_cursor)
        events.extend(page.events)
    events = events[:limit]
    _record_export(session, actor, events, f"filter {described}")
    return _with_details(session, events)


def _with_details(session: Session, events: Sequence[Event]) -> list[Exported]:
    folded = details_for(session, [e.pk for e in events])
    empty = FoldedDetails([], [], 0, 0)
    return [Exported(e, folded.get(e.pk, empty)) for e in events]


def _record_export(session: Session, actor: str, events: Sequence[Event], what: str) -> None:
    record(
        session, actor=actor, action="export.csv", subject=f"{len(events)} events",
        note=what[:10_000],
    )  # fmt: skip


def view_timeline(
    session: Session, event_id: str, *, actor: str
) -> tuple[Event | None, list[Event]]:
    """The event and the same pupil's events an hour either side; looking is recorded."""
    detail = get_event(session, event_id)
    if detail is None:
        return None, []
    around = events_around(session, event_id)
    who = detail.event.user or detail.event.device or detail.event.client_ip or "unknown"
    record(
        session,
        actor=actor,
        action="view.timeline",
        event_id=event_id,
        subject=f"user:{who}",
        note=f"viewed {len(around)} events within an hour either side",
    )
    return detail.event, around
