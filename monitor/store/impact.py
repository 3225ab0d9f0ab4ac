"""What the impact preview reads: the last days' recorded requests, in batches, never all at once.

The console's "what would this change do?" (`monitor.console.impact`) replays recorded requests
through the policy in force and a proposed one. It reads two things, each page by keyset in its
own short read transaction (so a week of a big school streams through in bounded memory and no
read holds a snapshot for the whole run):

    period = recorded_period(session, since, until)        # how much there is (for progress)
    rows = context_batch(session, since, until, after=last_id, limit=20_000)
    events = event_batch(session, since, until, after=cursor, limit=2_000)

- the host-only context log (`ContextEntry`): who (an identity string), the minute, the host and
  the number of requests; never a path;
- the gateway's events (`Event`): the whole URL, the user, the group the gateway found and how
  many visits the event folds.

Every statement is an ORM statement, so the console's school scope (`monitor.store.scope`) applies.
The identities read here are for counting distinct people; the caller must not keep or show them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, String, cast, func, select, tuple_
from sqlalchemy.orm import Session

from monitor.events import Source, identity_of
from monitor.store.models import ContextEntry, Event

# Events the gateway made from what it decided (not its warnings to IT staff).
REPLAYABLE_KINDS = ("url", "search", "page", "circumvention")


class RecordedPeriod(NamedTuple):
    """How much was recorded between `since` and `until`."""

    context_rows: int
    events: int
    context_from: datetime | None  # the oldest context minute in the period (None: no log)
    first_context_id: int  # where reading the context log starts (see `context_batch`)


class ContextRow(NamedTuple):
    """What `context_batch` returns for a row (as a plain row: a week is a million of them)."""

    id: int
    identity: str  # `user:x`, `device:x` or `address:x` (monitor.events.identity_of)
    minute: str | datetime  # SQLite's stored text: `minute_of()` makes it a time when needed
    host: str
    action: str  # what the gateway did
    requests: int


class EventRow(NamedTuple):
    last_seen: datetime
    pk: int
    identity: str
    user: str | None
    client_ip: str | None
    group: str | None
    url: str
    host: str
    action: str  # block, flag or study
    repeat_count: int


Cursor = tuple[datetime, int]  # (time, id) of the last event of the previous batch


def recorded_period(session: Session, since: datetime, until: datetime) -> RecordedPeriod:
    in_period = (ContextEntry.minute >= since, ContextEntry.minute < until)
    context = select(func.count(), func.min(ContextEntry.minute), func.min(ContextEntry.id))
    rows, first, first_id = session.execute(context.where(*in_period)).one()
    events = select(func.count()).select_from(Event).where(*_event_conditions(since, until))
    return RecordedPeriod(
        int(rows or 0), int(session.scalar(events) or 0), _aware(first), int(first_id or 0)
    )


def context_batch(
    session: Session, since: datetime, until: datetime, *, after: int, limit: int
) -> Sequence[Row[int, str, str | datetime, str, str, int]]:
    """Up to `limit` context rows of the period with an id above `after`, in id order.

    By id, not by minute: the table in its own order, with no lookup from the minute index
    into the table per row. Start after `RecordedPeriod.first_context_id` - 1, the lowest id
    in the period, and every row of the period is read once; rows are written within seconds
    of their minute, so ids follow minutes and few rows outside the period are passed over.
    On SQLite the minute comes back as stored text (`minute_of()` reads it when it is needed),
    which saves converting a million."""
    # SQLite's stored text is cheaper to keep than to convert; PostgreSQL's driver gives times.
    sqlite = session.get_bind().dialect.name == "sqlite"
    minute: ColumnElement[str | datetime] = (
        cast(ContextEntry.minute, String) if sqlite else ContextEntry.minute  # type: ignore[assignment]
    )
    query = (
        select(
            ContextEntry.id,
            ContextEntry.identity,
            minute,
            ContextEntry.host,
            ContextEntry.action,
            ContextEntry.requests,
        )
        .where(ContextEntry.id > after, ContextEntry.minute >= since, ContextEntry.minute < until)
        .order_by(ContextEntry.id)
        .limit(limit)
    )
    return session.execute(query).all()


@lru_cache(maxsize=65536)
def minute_of(stored: str | datetime) -> datetime:
    """A context row's minute, aware and in UTC, from `context_batch` (SQLite's naive UTC text,
    or a time), cached: a week has only 10,080 minutes."""
    value = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def event_batch(
    session: Session, since: datetime, until: datetime, *, after: Cursor | None, limit: int
) -> list[EventRow]:
    """Up to `limit` of the gateway's events last seen in the period, after `after`, in
    (last seen, pk) order (the `ix_events_last_seen` index)."""
    query = select(
        Event.last_seen,
        Event.pk,
        Event.user,
        Event.device,
        Event.client_ip,
        Event.group,
        Event.url,
        Event.host,
        Event.action,
        Event.repeat_count,
    ).where(*_event_conditions(since, until))
    if after is not None:
        query = query.where(tuple_(Event.last_seen, Event.pk) > tuple_(*after))
    query = query.order_by(Event.last_seen, Event.pk).limit(limit)
    return [_event_row(values) for values in session.execute(query)]


def _event_row(values: Sequence[Any]) -> EventRow:
    when, pk, user, device, client_ip, group, url, host, action, repeats = values
    return EventRow(
        last_seen=when,
        pk=pk,
        identity=identity_of(user, device, client_ip),
        user=user or None,
        client_ip=client_ip,
        group=group,
        url=url or f"https://{host}/",
        host=host or "",
        action=action,
        repeat_count=max(1, int(repeats or 1)),
    )


def who_of(identity: str) -> tuple[str | None, str | None]:
    """(user name, client address) from a context-log identity: a `device:` identity has
    neither (a device name chooses no group)."""
    kind, _, value = identity.partition(":")
    if kind == "user":
        return value or None, None
    if kind == "address" and value != "unknown":
        return None, value or None
    return None, None


def _event_conditions(since: datetime, until: datetime) -> list[ColumnElement[bool]]:
    return [
        Event.source == Source.GATEWAY.value,
        Event.kind.in_(REPLAYABLE_KINDS),
        Event.last_seen >= since,
        Event.last_seen < until,
        (Event.url.is_not(None)) | (Event.host.is_not(None)),
    ]


def _aware(value: datetime | str | None) -> datetime | None:
    """An aggregate skips the column's type on SQLite: its text comes back as it is stored."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
