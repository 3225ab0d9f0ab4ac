"""The host-only context log: which hosts a pupil reached around an event, and nothing more.

Optional (`gateway.context_log_days`, 7 by default; 0 turns it off). The gateway notes each
request as a `monitor.events.ContextVisit` (time, identity, host, action: never a path, a
query or a page body) with the `EventWriter`, which folds them here into one row per
(identity, minute, host, action) with the number of requests, so a busy pupil is a few rows a
minute, and writes them from its own thread:

    log = ContextLog()
    log.write(engine, visits)            # on the writer thread; False if the database is away
    view_context(session, event_id, actor=...)    # the Prevent lead's view, audited
    purge_context(session, cutoff)       # part of the retention purge

Context is optional and events are not: while the database is unreachable the writer drops
context rows (counted in `ContextLog.dropped`) rather than spool them behind the events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, func, inspect, select
from sqlalchemy.orm import Session

from monitor.events import ContextVisit, identity_of
from monitor.schools import DEFAULT_SCHOOL_ID
from monitor.store.folding import _insert
from monitor.store.models import ContextEntry, Event
from monitor.store.review import record
from monitor.store.rows import safe_text

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_DAYS = 7
WINDOW = timedelta(hours=1)
MAX_ROWS = 2000  # what one view shows at most (an hour either side: ~120 minutes)
BATCH = 5000
FLUSH_SECONDS = 5.0  # context is written at most this often
MAX_PENDING = 50_000  # or sooner, when this many requests (or rows) are waiting

Key = tuple[str, datetime, str, str]  # identity, minute, host, action
# A request as the gateway notes it: identity, minutes since the epoch (UTC), host, action, as
# given. Made safe for the columns (`key_of`) when written, once per row rather than per request.
RawKey = tuple[str, int, str, str]


def key_of(visit: ContextVisit) -> Key:
    """The row a visit folds into: (identity, minute, host, action), made safe for its columns."""
    minute = visit.when.replace(second=0, microsecond=0)
    identity = safe_text(visit.identity, 200) or "address:unknown"
    host = safe_text(visit.host.lower(), 255) or "(none)"
    return identity, minute, host, safe_text(visit.action, 8) or "allow"


def fold(visits: Iterable[ContextVisit]) -> Counter[Key]:
    """One count per (identity, minute, host, action), values made safe for their columns."""
    return Counter(map(key_of, visits))


def fold_raw(raw: Counter[RawKey]) -> Counter[Key]:
    """Requests noted by `ContextLog.note_request`, keyed as `fold` keys visits (two raw keys
    can be one row, say hosts differing only in case)."""
    folded: Counter[Key] = Counter()
    for (identity, minute, host, action), requests in raw.items():
        when = datetime.fromtimestamp(minute * 60, UTC)
        folded[key_of(ContextVisit(when, identity, host, action))] += requests
    return folded


class ContextLog:
    """The context log's pending requests, folded as they arrive, and their writing.

    The gateway's thread notes each request (`note_request`: a counter increment under a lock,
    never a queue hand-over: handing every request to the writer's thread cost ~175 µs of CPU
    a request, docs/benchmarks.md). The writer's thread writes the folded rows at most every
    `FLUSH_SECONDS` (or on a flush or stop): rows fold per minute anyway, and one transaction
    every few seconds costs the gateway's core far less than one per batch of events
    (profiled: ~7 ms per write). Counters are of requests, not rows."""

    def __init__(self, school: str = DEFAULT_SCHOOL_ID) -> None:
        self.school = school  # the writing part's school: every row is stored under it
        self.written = 0  # requests stored (folded into rows)
        self.dropped = 0  # requests dropped: the database was away, or refused them
        self._raw: Counter[RawKey] = Counter()  # requests noted, not yet made safe
        self._pending_requests = 0
        self._lock = threading.Lock()
        self._last_write = time.monotonic()

    def note_request(self, started: float, identity: str, host: str, action: str) -> None:
        """One request (`started` in seconds since the epoch), from any thread. Never blocks on
        the database and never raises. The gateway calls this for every request, so it only
        counts here: the row's values are made safe for their columns by the writer, once per
        row (`fold_raw`)."""
        try:
            key = (identity, int(started // 60), host, action)
        except (TypeError, ValueError, OverflowError):  # not a time: context is optional
            self.dropped += 1
            return
        with self._lock:
            raw = self._raw
            if len(raw) >= MAX_PENDING and key not in raw:
                self.dropped += 1  # the writer is far behind: context gives way, events do not
                return
            raw[key] += 1
            self._pending_requests += 1

    def write_due(self, engine: Engine | None, *, force: bool = False) -> None:
        """Write what is pending if it is time (or `force`d): the writer calls this each cycle."""
        recent = time.monotonic() - self._last_write < FLUSH_SECONDS
        with self._lock:
            if not self._pending_requests:
                return
            if not force and recent and self._pending_requests < MAX_PENDING:
                return
            raw, self._raw = self._raw, Counter()
            requests, self._pending_requests = self._pending_requests, 0
        self._last_write = time.monotonic()
        try:
            pending = fold_raw(raw)
        except Exception:  # pragma: no cover - values the gateway made: context is optional
            log.exception("context log: dropped %d requests' context", requests)
            self.dropped += requests
            return
        self._write(engine, pending, requests)

    def write(self, engine: Engine | None, visits: Sequence[ContextVisit]) -> bool:
        """Fold and upsert the visits in one transaction; False (and counted as dropped) if the
        database is away (`engine` None) or would not take them. Never raises: context must
        not stop events."""
        return self._write(engine, fold(visits), len(visits))

    def _write(self, engine: Engine | None, folded: Counter[Key], requests: int) -> bool:
        if engine is None:
            self.dropped += requests
            return False
        if not folded:
            return True
        rows = [
            {"school": self.school, "identity": i, "minute": m, "host": h, "action": a,
             "requests": n}
            for (i, m, h, a), n in folded.items()
        ]  # fmt: skip
        try:
            with engine.begin() as connection:
                table = ContextEntry.__table__
                statement = _insert(connection, table)
                statement = statement.on_conflict_do_update(
                    index_elements=["school", "identity", "minute", "host", "action"],
                    set_={"requests": table.c.requests + statement.excluded.requests},
                )
                connection.execute(statement, rows)
        except Exception as exc:
            self.dropped += requests
            log.warning("context log: dropped %d requests' context: %s", requests, exc)
            return False
        self.written += requests
        return True


@dataclass(frozen=True, slots=True)
class ContextView:
    """What the Prevent lead sees: the event, whose context it is, and the rows, oldest first."""

    event: Event
    identity: str
    start: datetime
    end: datetime
    entries: list[ContextEntry]
    truncated: bool


def context_around(
    session: Session, event: Event, *, window: timedelta = WINDOW, limit: int = MAX_ROWS
) -> ContextView:
    """The event's identity's context rows from `window` before its first sighting to
    `window` after its last."""
    identity = identity_of(event.user, event.device, event.client_ip)
    start, end = event.first_seen - window, event.last_seen + window
    query = (
        select(ContextEntry)
        .where(
            ContextEntry.school == event.school,  # the same name at another school is not them
            ContextEntry.identity == identity,
            ContextEntry.minute >= start.replace(second=0, microsecond=0),
            ContextEntry.minute <= end,
        )
        .order_by(ContextEntry.minute, ContextEntry.host, ContextEntry.action)
        .limit(limit + 1)
    )
    entries = list(session.scalars(query))
    return ContextView(event, identity, start, end, entries[:limit], len(entries) > limit)


def view_context(session: Session, event_id: str, *, actor: str) -> ContextView | None:
    """The context around one event (None if there is no such event); looking is recorded."""
    event = session.scalars(select(Event).where(Event.event_id == event_id)).one_or_none()
    if event is None:
        return None
    view = context_around(session, event)
    record(
        session,
        actor=actor,
        action="view.context",
        event_id=event_id,
        school=event.school,
        subject=view.identity,
        note=f"viewed {len(view.entries)} context rows (hosts only) within an hour either side",
    )
    return view


def _has_log(session: Session) -> bool:
    # A store at a revision before the log (a purge run against it, as the audit-guard tests
    # do) has nothing to purge: not a reason to fail the purge of everything else.
    return inspect(session.connection()).has_table(ContextEntry.__tablename__)


def count_context(session: Session, cutoff: datetime) -> int:
    """Context rows older than the cut-off (the purge's dry run)."""
    if not _has_log(session):
        return 0
    query = select(func.count()).select_from(ContextEntry).where(ContextEntry.minute < cutoff)
    return int(session.scalar(query) or 0)


def purge_context(session: Session, cutoff: datetime) -> int:
    """Delete context rows older than the cut-off, in batches; the caller commits."""
    purged = 0
    if not _has_log(session):
        return purged
    old = ContextEntry.minute < cutoff
    while ids := list(session.scalars(select(ContextEntry.id).where(old).limit(BATCH))):
        session.execute(delete(ContextEntry).where(ContextEntry.id.in_(ids)))
        purged += len(ids)
    return purged
