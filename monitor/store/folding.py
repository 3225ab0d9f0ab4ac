"""Write one batch of event rows in one transaction, folding repeats and ignoring replays.

`store_rows(connection, rows, fold_window)` is what the writer thread calls (and what a test or a
one-off import may call). Within the caller's transaction it:

1. drops rows whose event id already has a receipt (a replay of something already stored);
2. folds each remaining row into the open event with the same fold key whose `first_seen` lies
   within `fold_window` before it (the window is anchored at the event's first sighting, so one
   event covers at most one window of activity; a pupil who keeps at it makes one event per
   window, which keeps per-day counts meaningful);
3. inserts the new events (`ON CONFLICT (event_id) DO NOTHING` on both backends), adds the folded
   repeats to existing events (count, last seen, the strongest severity), and writes a receipt
   for every accepted id (so every block page's reference finds the event that holds it);
4. keeps every distinct search term and URL path of every folded row, with counts
   (`monitor.store.details`), so folding never hides the worst search from the Prevent lead.

Everything happens in the caller's transaction, so a batch is stored whole or not at all, and a
replay after a lost commit acknowledgement changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    Integer,
    String,
    Table,
    any_,
    bindparam,
    case,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from monitor.store.details import record_details
from monitor.store.models import Event, EventReceipt, UTCDateTime

events = cast(Table, Event.__table__)
receipts = cast(Table, EventReceipt.__table__)

CHUNK = 500  # bound parameters per IN (...) lookup
# How far apart two gateways' sightings of one visit may be: a pupil's connections spread over
# a school's gateways (HAProxy leastconn, nftables numgen), and the sighting made first is not
# always committed first. One that comes this much before an open event's first sighting folds
# into it (and moves its first sighting back), rather than starting an event of its own.
SKEW = timedelta(seconds=2)
# Several writers on PostgreSQL: each batch locks its fold keys (the sha1's first 64 bits) for
# its transaction, in ascending order so that two writers never wait on each other in a circle;
# the second then sees the first's new event instead of inserting its own (bench/trust_bench.py:
# 22,335 split events out of 48,442 without it, with two gateways per school; none with it).
FOLD_LOCKS = text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:keys AS bigint[])) AS k")


@dataclass
class BatchResult:
    inserted: int = 0  # new event rows
    folded: int = 0  # rows counted into an existing or new event
    duplicates: int = 0  # rows already stored (replays)


@dataclass
class _Target:
    first_seen: datetime
    pk: int | None  # None: a new row of this batch
    row: dict[str, Any] | None = None
    add: int = 0
    last_seen: datetime | None = None
    severity: int = 0  # the strongest severity folded in by this batch
    earlier: datetime | None = None  # a sighting before first_seen (within SKEW) folded in


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(connection: Connection, table: Any) -> Any:
    if connection.dialect.name == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def _insert_events(connection: Connection, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Insert new events; their pks by event id."""
    # A plain executemany: psycopg pipelines it with one prepared statement, sqlite3 loops in C.
    # (Multi-row VALUES with RETURNING spends its time splitting a huge query text in psycopg.)
    statement = _insert(connection, events).on_conflict_do_nothing(index_elements=["event_id"])
    connection.execute(statement, list(rows))
    pks: dict[str, int] = {}
    for chunk in _chunks([row["event_id"] for row in rows]):
        query = select(events.c.event_id, events.c.pk).where(
            _one_of(connection, events.c.event_id, chunk)
        )
        pks.update((event_id, pk) for event_id, pk in connection.execute(query))
    return pks


def _one_of(connection: Connection, column: Any, values: Sequence[str]) -> Any:
    """`column IN (values)`; on PostgreSQL `= ANY(array)`, one parameter instead of hundreds."""
    if connection.dialect.name == "postgresql":
        return column == any_(bindparam("values", list(values), type_=ARRAY(String)))
    return column.in_(values)


def _known_ids(connection: Connection, ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for chunk in _chunks(ids):
        query = select(receipts.c.event_id).where(_one_of(connection, receipts.c.event_id, chunk))
        known.update(connection.scalars(query))
    return known


# Folding looks events up by key through ix_events_fold. The time bounds are written so that no
# index can serve them (`+ interval '0'` on PostgreSQL, unary `+` on SQLite): otherwise, with
# young statistics, a planner may scan the whole time range instead, which at thousands of events
# a second is millions of rows.
PG_OPEN_EVENTS = text(
    """
    SELECT pk, fold_key, first_seen FROM events
    WHERE fold_key = ANY(CAST(:keys AS text[]))
      AND first_seen + interval '0 seconds' > :since
      AND first_seen + interval '0 seconds' <= :until
    ORDER BY first_seen
    """
).columns(pk=BigInteger(), fold_key=String(), first_seen=UTCDateTime())
SQLITE_OPEN_EVENTS = text(
    """
    SELECT pk, fold_key, first_seen FROM events
    WHERE fold_key IN :keys AND +first_seen > :since AND +first_seen <= :until
    ORDER BY first_seen
    """
).columns(pk=Integer(), fold_key=String(), first_seen=UTCDateTime())


def _open_events(
    connection: Connection, keys: Sequence[str], since: datetime, until: datetime
) -> dict[str, list[_Target]]:
    found: dict[str, list[_Target]] = {}
    for chunk in _chunks(keys):
        if connection.dialect.name == "postgresql":
            keys_param = bindparam("keys", list(chunk), type_=ARRAY(String))
            query: Any = PG_OPEN_EVENTS
        else:
            keys_param = bindparam("keys", list(chunk), expanding=True)
            query = SQLITE_OPEN_EVENTS
        query = query.bindparams(
            keys_param,
            bindparam("since", since, type_=UTCDateTime()),
            bindparam("until", until, type_=UTCDateTime()),
        )
        for pk, key, first_seen in connection.execute(query):
            found.setdefault(key, []).append(_Target(first_seen=first_seen, pk=pk))
    return found


def _target_for(candidates: list[_Target], when: datetime, window: timedelta) -> _Target | None:
    for target in reversed(candidates):  # newest first
        if target.first_seen - SKEW <= when < target.first_seen + window:
            return target
    return None


def _lock_keys(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if connection.dialect.name != "postgresql":
        return  # SQLite's writers take turns on the database's one write lock
    keys = sorted({int(row["fold_key"][:16], 16) - 2**63 for row in rows})
    connection.execute(FOLD_LOCKS.bindparams(bindparam("keys", keys, type_=ARRAY(BigInteger))))


def store_rows(
    connection: Connection, rows: Sequence[dict[str, Any]], fold_window: timedelta
) -> BatchResult:
    """Store `rows` (from `monitor.store.rows.event_row`) in the caller's transaction."""
    result = BatchResult()
    fresh = _fresh(connection, rows, result)
    if not fresh:
        return result
    _lock_keys(connection, fresh)
    times = [row["first_seen"] for row in fresh]
    open_events = _open_events(
        connection,
        sorted({row["fold_key"] for row in fresh}),
        min(times) - fold_window,
        max(times) + SKEW,
    )
    new_rows, members = _fold(fresh, open_events, fold_window, result)
    if new_rows:
        pks = _insert_events(connection, new_rows)
        result.inserted = len(new_rows)
        for candidates in open_events.values():
            for target in candidates:
                if target.row is not None:
                    target.pk = pks[target.row["event_id"]]
    _grow(connection, open_events)
    receipt_rows = [{"event_id": row["event_id"], "event_pk": t.pk} for row, t in members]
    statement = _insert(connection, receipts).on_conflict_do_nothing(index_elements=["event_id"])
    connection.execute(statement, receipt_rows)
    record_details(
        connection,
        [(cast(int, t.pk), row, t.row is None) for row, t in members],
    )
    return result


def _fresh(
    connection: Connection, rows: Sequence[dict[str, Any]], result: BatchResult
) -> list[dict[str, Any]]:
    """The rows not stored before (a replay of a stored id is counted, not stored again)."""
    if not rows:
        return []
    known = _known_ids(connection, list({row["event_id"] for row in rows}))
    fresh: list[dict[str, Any]] = []
    for row in rows:
        if row["event_id"] in known:
            result.duplicates += 1
            continue
        known.add(row["event_id"])  # a repeat of the same id inside this batch
        fresh.append(row)
    return fresh


Members = list[tuple[dict[str, Any], _Target]]  # (row, the event it went into)


def _fold(
    fresh: list[dict[str, Any]],
    open_events: dict[str, list[_Target]],
    fold_window: timedelta,
    result: BatchResult,
) -> tuple[list[dict[str, Any]], Members]:
    """Give each row its event: an open one it folds into, or a new one of this batch."""
    new_rows: list[dict[str, Any]] = []
    members: Members = []
    for row in fresh:
        candidates = open_events.setdefault(row["fold_key"], [])
        target = _target_for(candidates, row["first_seen"], fold_window)
        if target is None:
            target = _Target(first_seen=row["first_seen"], pk=None, row=dict(row))
            candidates.append(target)
            candidates.sort(key=lambda t: t.first_seen)
            new_rows.append(target.row)  # type: ignore[arg-type]
        elif target.row is not None:
            target.row["repeat_count"] += row["repeat_count"]
            target.row["first_seen"] = min(target.row["first_seen"], row["first_seen"])
            target.row["last_seen"] = max(target.row["last_seen"], row["last_seen"])
            target.row["severity"] = max(target.row["severity"], row["severity"])
            result.folded += 1
        else:
            target.add += row["repeat_count"]
            if row["first_seen"] < target.first_seen:
                target.earlier = min(target.earlier or row["first_seen"], row["first_seen"])
            target.last_seen = max(target.last_seen or row["last_seen"], row["last_seen"])
            target.severity = max(target.severity, row["severity"])
            result.folded += 1
        members.append((row, target))
    return new_rows, members


def _grow(connection: Connection, open_events: dict[str, list[_Target]]) -> None:
    """Add this batch's repeats to events stored before it: count, last seen, severity."""
    growth = [
        {"b_pk": target.pk, "b_add": target.add, "b_last": target.last_seen,
         "b_sev": target.severity, "b_first": target.earlier or target.first_seen}
        for candidates in open_events.values()
        for target in candidates
        if target.row is None and target.add
    ]  # fmt: skip
    if not growth:
        return
    last = bindparam("b_last", type_=UTCDateTime())
    first = bindparam("b_first", type_=UTCDateTime())
    connection.execute(
        update(events)
        .where(events.c.pk == bindparam("b_pk"))
        .values(
            repeat_count=events.c.repeat_count + bindparam("b_add"),
            first_seen=case((events.c.first_seen > first, first), else_=events.c.first_seen),
            last_seen=case((events.c.last_seen < last, last), else_=events.c.last_seen),
            # A folded event shows the strongest severity it holds, not its first one.
            severity=case(
                (events.c.severity < bindparam("b_sev"), bindparam("b_sev")),
                else_=events.c.severity,
            ),
        ),
        growth,
    )
