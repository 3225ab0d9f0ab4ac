"""What the review console and the digest ask of the store. Every function takes a Session.

    page = list_events(session, EventFilter(statuses=["new"], min_severity=3), limit=50)
    page.events, page.next_cursor        # pass next_cursor back as `after=` for the next page
    count_events(session, flt)
    counts_per_day(session, flt)         # [DayCount(day, events, sightings)] by first sighting
    counts_per_category(session, flt)    # [CategoryCount(category, events, sightings)]
    user_ranking(session, flt, limit=20) # [UserScore]: score = sum of severity x repeat count,
                                         # by the best identity: user, else device, else address
    events_around(session, event_id)     # same user (or device) within an hour either side
    get_event(session, event_id)         # EventDetail(event, audit trail, folded) or None

Pages use keyset pagination: the sort columns plus the primary key, compared as a row value
against the last row of the previous page, so page 1 and page 10,000 cost the same and each is
served from an index (`ix_events_last_seen`, `ix_events_status_last_seen`, ...). Sorts:
``last_seen`` (default), ``first_seen``, ``severity`` (then last seen), newest/highest first
unless ``ascending=True``. A cursor is opaque text; a damaged one raises `ValueError`.

The date range applies to when an event was last seen (since <= last_seen < until). The text
search is a case-insensitive substring match on URL, host, search terms, rule, category, reason
and user, or the exact reference of any visit the event holds (its block page's), served from
the text-search index (`monitor.store.textsearch`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Date, case, cast, func, literal, select, tuple_
from sqlalchemy.orm import Session

from monitor.store.details import FoldedDetails, details_of
from monitor.store.models import AuditEntry, Event, UTCDateTime
from monitor.store.review import audit_trail
from monitor.store.textsearch import for_one_page, text_matches

SORTS: dict[str, tuple[Any, ...]] = {
    "last_seen": (Event.last_seen,),
    "first_seen": (Event.first_seen,),
    "severity": (Event.severity, Event.last_seen),
}
MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class EventFilter:
    statuses: Sequence[str] = ()
    min_severity: int | None = None
    kinds: Sequence[str] = ()
    sources: Sequence[str] = ()
    categories: Sequence[str] = ()
    schools: Sequence[str] = ()  # within the account's own scope (monitor.store.scope)
    group: str | None = None
    user: str | None = None
    device: str | None = None
    client_ip: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        where: list[ColumnElement[bool]] = []
        for column, values in (
            (Event.status, self.statuses),
            (Event.kind, self.kinds),
            (Event.source, self.sources),
            (Event.category, self.categories),
            (Event.school, self.schools),
        ):
            if len(values) == 1:
                where.append(column == values[0])
            elif values:
                where.append(column.in_(list(values)))
        if self.min_severity is not None:
            where.append(Event.severity >= self.min_severity)
        if self.group:
            where.append(Event.group == self.group)
        if self.user:
            where.append(Event.user == self.user)
        if self.device:
            where.append(Event.device == self.device)
        if self.client_ip:
            where.append(Event.client_ip == self.client_ip)
        if self.since:
            where.append(Event.last_seen >= self.since)
        if self.until:
            where.append(Event.last_seen < self.until)
        if self.text and self.text.strip():
            where.append(text_matches(self.text.strip()))  # monitor.store.textsearch
        return where


@dataclass(frozen=True, slots=True)
class EventPage:
    events: list[Event]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    events: int
    sightings: int


@dataclass(frozen=True, slots=True)
class CategoryCount:
    category: str | None
    events: int
    sightings: int


@dataclass(frozen=True, slots=True)
class UserScore:
    """One identity's score. `user` holds the best identity known of its events: the user
    name, else (`kind` "device") the device the device map named, else (`kind` "address")
    the client address."""

    user: str
    events: int
    sightings: int
    score: int  # sum of severity x repeat count
    max_severity: int
    kind: str = "user"  # user | device | address

    @property
    def label(self) -> str:
        return self.user if self.kind == "user" else f"{self.kind} {self.user}"


@dataclass(frozen=True, slots=True)
class EventDetail:
    event: Event
    audit: Sequence[AuditEntry] = field(default_factory=list)
    folded: FoldedDetails = field(default_factory=lambda: FoldedDetails([], [], 0, 0))


# -- the event list


def _encode_cursor(values: Sequence[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, columns: Sequence[Any]) -> list[Any]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(columns):
            raise ValueError("wrong shape")
        values: list[Any] = []
        for column, value in zip(columns, raw, strict=True):
            if column is Event.last_seen or column is Event.first_seen:
                values.append(literal(datetime.fromisoformat(value), UTCDateTime()))
            else:
                values.append(literal(int(value)))
        return values
    except (ValueError, TypeError) as exc:
        raise ValueError(f"this page link is damaged ({exc}): start from the first page") from exc


def list_events(
    session: Session,
    flt: EventFilter | None = None,
    *,
    sort: str = "last_seen",
    ascending: bool = False,
    limit: int = 50,
    after: str | None = None,
) -> EventPage:
    """One page of events, filtered and sorted; `after` is the previous page's next_cursor."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}: use one of {', '.join(SORTS)}")
    limit = max(1, min(limit, MAX_PAGE))
    columns = (*SORTS[sort], Event.pk)
    query = select(Event).where(*(flt or EventFilter()).conditions())
    if after:
        key = tuple_(*columns)
        bound = tuple_(*_decode_cursor(after, columns))
        query = query.where(key > bound if ascending else key < bound)
    query = query.order_by(*(c.asc() if ascending else c.desc() for c in columns))
    query = for_one_page(session, query, limit)  # monitor.store.textsearch
    events = list(session.scalars(query.limit(limit + 1)))
    more = len(events) > limit
    events = events[:limit]
    cursor = None
    if more:
        last = events[-1]
        cursor = _encode_cursor([getattr(last, c.key) for c in columns])
    return EventPage(events=events, next_cursor=cursor)


def count_events(session: Session, flt: EventFilter | None = None) -> int:
    query = select(func.count()).select_from(Event).where(*(flt or EventFilter()).conditions())
    return int(session.scalar(query) or 0)


# -- summaries


def _day(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores naive UTC text


def counts_per_day(session: Session, flt: EventFilter | None = None) -> list[DayCount]:
    """Events and sightings per UTC day of first sighting, oldest first."""
    day = _day(session, Event.first_seen).label("day")
    query = (
        select(day, func.count(), func.coalesce(func.sum(Event.repeat_count), 0))
        .where(*(flt or EventFilter()).conditions())
        .group_by(day)
        .order_by(day)
    )
    result = []
    for value, events, sightings in session.execute(query):
        when = value if isinstance(value, date) else date.fromisoformat(str(value))
        result.append(DayCount(day=when, events=int(events), sightings=int(sightings)))
    return result


def counts_per_category(session: Session, flt: EventFilter | None = None) -> list[CategoryCount]:
    """Events and sightings per category, most events first."""
    events = func.count().label("events")
    query = (
        select(Event.category, events, func.coalesce(func.sum(Event.repeat_count), 0))
        .where(*(flt or EventFilter()).conditions())
        .group_by(Event.category)
        .order_by(events.desc(), Event.category)
    )
    return [
        CategoryCount(category=category, events=int(n), sightings=int(s))
        for category, n, s in session.execute(query)
    ]


def identity() -> tuple[ColumnElement[str], ColumnElement[str]]:
    """(kind, value) of an event's best identity: the user, else the device, else the client
    address (as the instant alerts and the timeline choose it)."""
    user, device = func.nullif(Event.user, ""), func.nullif(Event.device, "")
    kind = case((user.is_not(None), "user"), (device.is_not(None), "device"), else_="address")
    return kind, func.coalesce(user, device, func.nullif(Event.client_ip, ""), "unknown")


def user_ranking(
    session: Session, flt: EventFilter | None = None, *, limit: int = 20
) -> list[UserScore]:
    """Identities by severity x frequency (sum over their events of severity x repeat count):
    users, and devices or addresses for events without a user name."""
    score = func.sum(Event.severity * Event.repeat_count).label("score")
    kind, who = identity()
    query = (
        select(
            kind, who, func.count(), func.sum(Event.repeat_count), score, func.max(Event.severity)
        )
        .where(*(flt or EventFilter()).conditions())
        .group_by(kind, who)
        .order_by(score.desc(), who)
        .limit(limit)
    )
    return [
        UserScore(user=u, events=int(n), sightings=int(s), score=int(sc), max_severity=int(m),
                  kind=k)
        for k, u, n, s, sc, m in session.execute(query)
    ]  # fmt: skip


# -- one event


def get_event(session: Session, event_id: str) -> EventDetail | None:
    event = session.scalars(select(Event).where(Event.event_id == event_id)).one_or_none()
    if event is None:
        return None
    return EventDetail(
        event=event, audit=audit_trail(session, event_id), folded=details_of(session, event.pk)
    )


def events_around(
    session: Session, event_id: str, *, window: timedelta = timedelta(hours=1), limit: int = 200
) -> list[Event]:
    """The same user's (or, without a user, the same device's) events from `window` before the
    event's first sighting to `window` after its last, oldest first, the event included."""
    event = session.scalars(select(Event).where(Event.event_id == event_id)).one_or_none()
    if event is None:
        return []
    if event.user:
        who: ColumnElement[bool] = Event.user == event.user
    elif event.device:
        who = Event.device == event.device
    elif event.client_ip:
        who = Event.client_ip == event.client_ip
    else:
        return [event]
    query = (
        select(Event)
        .where(
            who,
            Event.last_seen >= event.first_seen - window,
            Event.first_seen <= event.last_seen + window,
        )
        .order_by(Event.first_seen, Event.pk)
        .limit(limit)
    )
    return list(session.scalars(query))
