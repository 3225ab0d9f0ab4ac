"""What the impact preview reads (`monitor.store.impact`), on both backends: the period's
context rows in id order from its first id, in batches, with their minutes as stored text that
`minute_of` reads back; the gateway's events in (last seen, pk) pages; a school scope applied."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.events import ContextVisit
from monitor.store import scope
from monitor.store.contextlog import ContextLog
from monitor.store.folding import store_rows
from monitor.store.impact import (
    context_batch,
    event_batch,
    minute_of,
    recorded_period,
    who_of,
)
from monitor.store.rows import event_row
from monitor.store.runner import Store

from .conftest import T0, fictional_event

SINCE, UNTIL = T0, T0 + timedelta(days=7)


def fill(engine: Engine) -> None:
    visits = [
        ContextVisit(T0 - timedelta(minutes=5), "user:pupil.a", "old.test", "allow"),
        *(ContextVisit(T0 + timedelta(minutes=m), "user:pupil.a", f"h{m}.test", "allow")
          for m in range(7)),
        ContextVisit(T0 + timedelta(minutes=2), "address:10.0.0.9", "bad.test", "block"),
        ContextVisit(UNTIL, "user:pupil.a", "late.test", "allow"),
    ]  # fmt: skip
    ContextLog().write(engine, visits)
    ContextLog(school="other").write(
        engine, [ContextVisit(T0 + timedelta(minutes=1), "user:x", "theirs.test", "allow")]
    )
    events = [
        fictional_event(when=T0 + timedelta(hours=h), host=f"e{h}.test", url=f"https://e{h}.test/p")
        for h in range(5)
    ]
    events.append(fictional_event(when=T0 + timedelta(hours=1), kind="policy", host="w.test"))
    events.append(fictional_event(when=T0 + timedelta(hours=1), source="brand-watch"))
    events.append(fictional_event(when=T0 - timedelta(hours=1), host="before.test"))
    with engine.begin() as connection:
        store_rows(connection, [event_row(e) for e in events], timedelta(minutes=10))


def test_the_period_is_read_in_batches_once_each(engine: Engine, session: Session) -> None:
    fill(engine)
    period = recorded_period(session, SINCE, UNTIL)
    assert (period.context_rows, period.events) == (9, 5)  # the other school's row counts too
    assert period.context_from == T0
    seen, after = [], period.first_context_id - 1
    while batch := context_batch(session, SINCE, UNTIL, after=after, limit=3):
        assert len(batch) <= 3
        seen.extend(batch)
        after = batch[-1][0]
    assert [row[0] for row in seen] == sorted(row[0] for row in seen)
    hosts = {row[3] for row in seen}
    assert hosts == {f"h{m}.test" for m in range(7)} | {"bad.test", "theirs.test"}
    bad = next(row for row in seen if row[3] == "bad.test")
    assert (bad[1], minute_of(bad[2]), bad[4], bad[5]) == (
        "address:10.0.0.9", T0 + timedelta(minutes=2), "block", 1,
    )  # fmt: skip
    events, cursor = [], None
    while page := event_batch(session, SINCE, UNTIL, after=cursor, limit=2):
        events.extend(page)
        cursor = (page[-1].last_seen, page[-1].pk)
    assert [e.host for e in events] == [f"e{h}.test" for h in range(5)]
    first = events[0]
    assert (first.identity, first.user, first.group, first.action, first.repeat_count) == (
        "user:pupil.a", "pupil.a", "year10", "block", 1,
    )  # fmt: skip


def test_a_school_scope_applies(engine: Engine) -> None:
    fill(engine)
    store = Store(engine)
    try:
        with scope.only_schools({"other"}):
            period = store.read_sync(recorded_period, SINCE, UNTIL)
            batch = store.read_sync(
                context_batch, SINCE, UNTIL, after=period.first_context_id - 1, limit=100
            )
            events = store.read_sync(event_batch, SINCE, UNTIL, after=None, limit=100)
    finally:
        store.close()
    assert (period.context_rows, period.events) == (1, 0)
    assert [row[3] for row in batch] == ["theirs.test"] and events == []


def test_who_a_context_identity_names() -> None:
    assert who_of("user:pupil.a") == ("pupil.a", None)
    assert who_of("address:10.0.0.9") == (None, "10.0.0.9")
    assert who_of("address:unknown") == (None, None)
    assert who_of("device:lab-pc-01") == (None, None)
    assert minute_of("2025-03-03 09:02:00+00") == T0 + timedelta(minutes=2)
