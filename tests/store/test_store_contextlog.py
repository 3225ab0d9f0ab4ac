"""The host-only context log on both backends: folded per minute through the writer, read an
hour either side of an event (the look recorded), dropped rather than spooled when the database
is away, and purged on its own short period."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from monitor.events import ContextVisit
from monitor.store.contextlog import ContextLog, view_context
from monitor.store.folding import store_rows
from monitor.store.models import AuditEntry, ContextEntry
from monitor.store.retention import plan_purge, purge
from monitor.store.rows import event_row
from monitor.store.writer import DEFAULT_FOLD_WINDOW, EventWriter

from .conftest import T0, fictional_event

USER = "user:pupil.a"


def visit(
    minutes: float, host: str = "www.news.test", action: str = "allow", who: str = USER
) -> ContextVisit:
    return ContextVisit(T0 + timedelta(minutes=minutes), who, host, action)


def note(writer: EventWriter, visit: ContextVisit) -> None:
    """A visit noted as the gateway notes a request: its start in seconds, and its parts."""
    writer.note_request(visit.when.timestamp(), visit.identity, visit.host, visit.action)


def _rows(session: Session) -> list[ContextEntry]:
    query = select(ContextEntry).order_by(ContextEntry.minute, ContextEntry.host)
    return list(session.scalars(query))


def test_writer_folds_visits_per_identity_minute_host_and_action(
    engine: Engine, store_url: str, tmp_path: Path, session: Session
) -> None:
    writer = EventWriter(store_url, spool_dir=str(tmp_path / "spool"), engine=engine)
    writer.start()
    for second in range(0, 60, 2):  # thirty requests in one minute: one row
        note(writer, visit(second / 60))
    note(writer, visit(0.5, action="block", host="WWW.Bad.test"))
    note(writer, visit(1.2))  # the next minute
    note(writer, visit(0.5, who="device:lab-pc-02"))
    assert writer.flush(10)
    note(writer, visit(0.9))  # a later batch folds into the stored row
    assert writer.close(10)
    rows = [(r.identity, r.minute, r.host, r.action, r.requests) for r in _rows(session)]
    assert sorted(rows) == sorted(
        [
            (USER, T0, "www.news.test", "allow", 31),
            (USER, T0, "www.bad.test", "block", 1),
            ("device:lab-pc-02", T0, "www.news.test", "allow", 1),
            (USER, T0 + timedelta(minutes=1), "www.news.test", "allow", 1),
        ]
    )
    assert writer.stats.context_written == 34
    assert writer.stats.context_dropped == 0


def test_noted_requests_are_made_safe_when_written_and_fold_as_rows(
    engine: Engine, store_url: str, tmp_path: Path, session: Session
) -> None:
    """The gateway's requests are counted as given and made safe only when written: two
    spellings of one host are one row, and a hostile host still fits its column."""
    writer = EventWriter(store_url, spool_dir=str(tmp_path / "spool"), engine=engine)
    writer.start()
    note(writer, visit(0.1, host="WWW.News.test"))
    note(writer, visit(0.2, host="www.news.TEST"))
    note(writer, visit(0.3, host="evil\x00\n" + "x" * 400 + ".test"))
    writer.note_request(float("nan"), USER, "www.news.test", "allow")  # not a time: dropped
    assert writer.close(10)
    rows = {r.host: r.requests for r in _rows(session)}
    assert rows.pop("www.news.test") == 2
    [(hostile, requests)] = rows.items()
    assert requests == 1 and len(hostile) <= 255 and hostile.isprintable()
    assert writer.stats.context_written == 3
    assert writer.stats.context_dropped == 1


def test_context_is_dropped_and_counted_while_the_database_is_away(
    engine: Engine, tmp_path: Path
) -> None:
    log = ContextLog()
    assert not log.write(None, [visit(0), visit(1)])  # the writer passes None while spooling
    assert log.dropped == 2
    engine.dispose()
    broken = EventWriter(
        "sqlite:////nonexistent/folder/x.sqlite", spool_dir=str(tmp_path / "spool")
    )
    broken.start()
    broken.submit(fictional_event())  # the event goes to the spool ...
    note(broken, visit(0))  # ... the context does not
    assert broken.flush(10)
    note(broken, visit(1))
    assert broken.flush(10)
    stats = broken.stats
    assert stats.spooled == 1 and stats.spool_records == 1
    assert stats.context_dropped == 2 and stats.context_written == 0
    broken.close(1)


def test_the_lead_sees_an_hour_either_side_for_the_events_identity_and_it_is_audited(
    engine: Engine, session: Session
) -> None:
    event = fictional_event(when=T0 + timedelta(hours=2))  # user pupil.a
    with engine.begin() as connection:
        store_rows(connection, [event_row(event)], DEFAULT_FOLD_WINDOW)
    log = ContextLog()
    assert log.write(
        engine,
        [
            visit(59, host="before.test"),  # 1 h 1 min before: outside
            visit(61, host="inside-early.test"),
            visit(120, host="www.bad.test", action="block"),
            visit(179, host="inside-late.test"),
            visit(182, host="after.test"),  # outside
            visit(125, host="someone-else.test", who="user:pupil.b"),
        ],
    )
    view = view_context(session, event.id, actor="dsl.jones")
    session.commit()
    assert view is not None and view.identity == USER
    hosts = [entry.host for entry in view.entries]
    assert hosts == ["inside-early.test", "www.bad.test", "inside-late.test"]
    trail = session.scalars(select(AuditEntry).where(AuditEntry.action == "view.context")).all()
    assert [(a.actor, a.event_id, a.subject) for a in trail] == [("dsl.jones", event.id, USER)]
    assert view_context(session, "no-such-event", actor="dsl.jones") is None


def test_device_then_address_identify_an_event_without_a_user(
    engine: Engine, session: Session
) -> None:
    by_device = fictional_event(user=None)
    by_address = fictional_event(user=None, device=None, rule="other", host="x.test")
    with engine.begin() as connection:
        store_rows(connection, [event_row(by_device), event_row(by_address)], DEFAULT_FOLD_WINDOW)
    ContextLog().write(
        engine,
        [visit(1, who="device:lab-pc-01"), visit(2, who="address:10.0.0.21", host="a.test")],
    )
    device_view = view_context(session, by_device.id, actor="dsl")
    address_view = view_context(session, by_address.id, actor="dsl")
    assert device_view is not None and [e.host for e in device_view.entries] == ["www.news.test"]
    assert address_view is not None and [e.host for e in address_view.entries] == ["a.test"]


def test_purge_removes_context_older_than_its_own_period(engine: Engine, session: Session) -> None:
    now = T0 + timedelta(days=10)
    ContextLog().write(engine, [visit(0), visit(60 * 24 * 5, host="recent.test")])
    event = fictional_event()  # ten days old: well within the events' 365 days
    with engine.begin() as connection:
        store_rows(connection, [event_row(event)], DEFAULT_FOLD_WINDOW)
    plan = plan_purge(session, 365, now, context_days=7)
    assert plan.context_rows == 1 and "context-log rows (hosts only) to purge: 1" in plan.describe()
    result = purge(session, 365, now, context_days=7)
    session.commit()
    assert result.context_rows == 1 and result.events == 0
    assert [r.host for r in _rows(session)] == ["recent.test"]
    assert purge(session, 365, now, context_days=0).context_rows == 1  # off: nothing is kept
    session.commit()
    assert _rows(session) == []
