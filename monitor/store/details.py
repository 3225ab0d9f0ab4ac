"""What a folded event keeps of each visit it folds: every distinct search term and URL path,
each with a count and first/last seen, bounded.

Folding merges repeats by the same person of the same rule on the same site into one event
(`monitor.store.folding`). Without this record the event would show only its first query, and
the worst search would be lost to the person who has to judge it. Up to `LIMIT` distinct
values of each kind are kept per event. Past that, the event's `more_terms` / `more_paths`
counts the visits whose value was not kept, so nothing is silently lost.

Paths are kept without the query string: a query can carry anything a pupil typed, and the
search terms, which are what matters, are kept as terms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from monitor.store.models import Event, EventDetail, EventReceipt
from monitor.store.rows import safe_text

LIMIT = 100  # distinct values of each kind kept per event
VALUE_MAX = 1024
TERM, PATH = "term", "path"

details = cast(Table, EventDetail.__table__)
events = cast(Table, Event.__table__)


@dataclass
class _Seen:
    count: int
    first: datetime
    last: datetime


def values_of(row: dict[str, Any]) -> list[tuple[str, str]]:
    """The (kind, value) pairs one event row contributes."""
    out = []
    if row.get("search_terms"):
        out.append((TERM, str(row["search_terms"])))
    url = row.get("url")
    if url:
        try:
            path = urlsplit(str(url)).path or "/"
        except ValueError:
            path = ""
        if path:
            out.append((PATH, safe_text(path, VALUE_MAX) or "/"))
    return out


def record_details(
    connection: Connection, members: Sequence[tuple[int, dict[str, Any], bool]]
) -> None:
    """Record the terms and paths of stored rows: (event pk, row, whether the event existed
    before this batch). Runs in the writer's transaction."""
    seen = _aggregate(members)
    if not seen:
        return
    known, distinct = _known(connection, {pk for pk, _row, existed in members if existed})
    inserts, updates = [], []
    overflow: dict[tuple[int, str], int] = {}
    for (pk, kind, value), entry in seen.items():
        if (pk, kind, value) in known:
            updates.append(
                {"b_pk": pk, "b_kind": kind, "b_value": value, "b_add": entry.count,
                 "b_last": entry.last}
            )  # fmt: skip
            continue
        if distinct.get((pk, kind), 0) >= LIMIT:
            overflow[(pk, kind)] = overflow.get((pk, kind), 0) + entry.count
            continue
        distinct[(pk, kind)] = distinct.get((pk, kind), 0) + 1
        inserts.append(
            {"event_pk": pk, "kind": kind, "value": value, "count": entry.count,
             "first_seen": entry.first, "last_seen": entry.last}
        )  # fmt: skip
    if inserts:
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert(details).on_conflict_do_nothing(index_elements=["event_pk", "kind", "value"]),
            inserts,
        )
    if updates:
        connection.execute(
            update(details)
            .where(
                details.c.event_pk == bindparam("b_pk"),
                details.c.kind == bindparam("b_kind"),
                details.c.value == bindparam("b_value"),
            )
            .values(count=details.c.count + bindparam("b_add"), last_seen=bindparam("b_last")),
            updates,
        )
    for (pk, kind), count in overflow.items():
        column = events.c.more_terms if kind == TERM else events.c.more_paths
        connection.execute(
            update(events).where(events.c.pk == pk).values({column: column + count})
        )


def _aggregate(
    members: Sequence[tuple[int, dict[str, Any], bool]],
) -> dict[tuple[int, str, str], _Seen]:
    """This batch's values per (event, kind, value), with counts and first/last seen."""
    seen: dict[tuple[int, str, str], _Seen] = {}
    for pk, row, _existed in members:
        for kind, value in values_of(row):
            first, last = row["first_seen"], row["last_seen"]
            entry = seen.get((pk, kind, value))
            if entry is None:
                seen[(pk, kind, value)] = _Seen(int(row["repeat_count"]), first, last)
            else:
                entry.count += int(row["repeat_count"])
                entry.first, entry.last = min(entry.first, first), max(entry.last, last)
    return seen


def _known(
    connection: Connection, pks: set[int]
) -> tuple[set[tuple[int, str, str]], dict[tuple[int, str], int]]:
    """The values already kept for events stored before this batch, and their counts by kind."""
    known: set[tuple[int, str, str]] = set()
    distinct: dict[tuple[int, str], int] = {}
    ordered = sorted(pks)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        query = select(details.c.event_pk, details.c.kind, details.c.value).where(
            details.c.event_pk.in_(chunk)
        )
        for pk, kind, value in connection.execute(query):
            known.add((pk, kind, value))
            distinct[(pk, kind)] = distinct.get((pk, kind), 0) + 1
    return known, distinct


@dataclass(frozen=True, slots=True)
class FoldedDetails:
    """What the console's event page and the exports show of a folded event's visits."""

    terms: list[tuple[str, int, datetime, datetime]]  # value, count, first seen, last seen
    paths: list[tuple[str, int, datetime, datetime]]
    more_terms: int
    more_paths: int


def details_of(session: Any, event_pk: int) -> FoldedDetails:
    return details_for(session, [event_pk]).get(event_pk) or FoldedDetails([], [], 0, 0)


def details_for(session: Any, event_pks: Sequence[int]) -> dict[int, FoldedDetails]:
    """The terms and paths of many events at once (an export), most frequent first."""
    found: dict[int, FoldedDetails] = {}
    ordered = sorted(set(event_pks))
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        more = select(Event.pk, Event.more_terms, Event.more_paths).where(Event.pk.in_(chunk))
        for pk, more_terms, more_paths in session.execute(more):
            found[pk] = FoldedDetails([], [], int(more_terms or 0), int(more_paths or 0))
        rows = session.execute(
            select(
                EventDetail.event_pk, EventDetail.kind, EventDetail.value, EventDetail.count,
                EventDetail.first_seen, EventDetail.last_seen,
            )
            .where(EventDetail.event_pk.in_(chunk))
            .order_by(EventDetail.count.desc(), EventDetail.first_seen, EventDetail.id)
        )
        for pk, kind, value, count, first, last in rows:
            folded = found.setdefault(pk, FoldedDetails([], [], 0, 0))
            (folded.terms if kind == TERM else folded.paths).append((value, count, first, last))
    return found


def event_id_for_reference(session: Any, reference: str) -> str | None:
    """The event that holds a visit, by the visit's own reference (the one its block page
    showed): a folded visit's reference leads to the event it was folded into."""
    return cast(
        str | None,
        session.scalar(
            select(Event.event_id)
            .join(EventReceipt, EventReceipt.event_pk == Event.pk)
            .where(EventReceipt.event_id == reference.strip()[:64])
        ),
    )
