"""The console's queries on both backends: filters, keyset pages, summaries, context."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.store.folding import store_rows
from monitor.store.queries import (
    EventFilter,
    count_events,
    counts_per_category,
    counts_per_day,
    events_around,
    get_event,
    list_events,
    user_ranking,
)
from monitor.store.review import set_status
from monitor.store.rows import event_row


@pytest.fixture
def stored(engine: Engine, make_event: Any) -> list[Any]:
    base = make_event().when
    events = []
    for i in range(30):
        events.append(
            make_event(
                user=f"pupil.{i % 3}",
                device=f"pc-{i % 3}",
                severity=i % 5,
                category=["extremism", "weapons", "hate"][i % 3] if i % 10 else None,
                kind="search" if i % 4 == 0 else "url",
                group="year11" if i % 2 else "year10",
                rule=f"rule:{i}",
                host=f"h{i}.bad.test",
                url=f"http://h{i}.bad.test/p?q=100%_off" if i == 7 else f"http://h{i}.bad.test/",
                when=base + timedelta(hours=3 * i),
            )
        )
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in events], timedelta(minutes=10))
        # a repeat folded into event 0: pupil.0 hit it twice more
        store_rows(
            conn,
            [event_row(make_event(**{**_fields(events[0]), "when": base + timedelta(minutes=m)}))
             for m in (1, 2)],
            timedelta(minutes=10),
        )
    return events


def _fields(event: Any) -> dict[str, Any]:
    names = ("user", "device", "severity", "category", "kind", "group", "rule", "host", "url")
    return {name: getattr(event, name) for name in names}


@pytest.mark.parametrize("sort", ["last_seen", "first_seen", "severity"])
@pytest.mark.parametrize("ascending", [False, True])
def test_keyset_pages_walk_every_event_once_in_order(
    session: Session, stored: list[Any], sort: str, ascending: bool
) -> None:
    seen = []
    cursor = None
    while True:
        page = list_events(session, sort=sort, ascending=ascending, limit=7, after=cursor)
        seen += page.events
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sorted(e.event_id for e in seen) == sorted(e.id for e in stored)
    key = {
        "last_seen": lambda e: (e.last_seen, e.pk),
        "first_seen": lambda e: (e.first_seen, e.pk),
        "severity": lambda e: (e.severity, e.last_seen, e.pk),
    }[sort]
    assert seen == sorted(seen, key=key, reverse=not ascending)


def test_filters(session: Session, stored: list[Any], make_event: Any) -> None:
    base = make_event().when

    def ids(flt: EventFilter) -> set[str]:
        return {e.event_id for e in list_events(session, flt, limit=500).events}

    assert ids(EventFilter(min_severity=4)) == {e.id for e in stored if e.severity == 4}
    assert ids(EventFilter(kinds=["search"])) == {e.id for e in stored if e.kind == "search"}
    assert ids(EventFilter(categories=["weapons", "hate"])) == {
        e.id for e in stored if e.category in ("weapons", "hate")
    }
    assert ids(EventFilter(group="year11", user="pupil.1")) == {
        e.id for e in stored if e.group == "year11" and e.user == "pupil.1"
    }
    window = EventFilter(since=base + timedelta(hours=6), until=base + timedelta(hours=12))
    assert ids(window) == {stored[2].id, stored[3].id}
    assert ids(EventFilter(text="100%_OFF")) == {stored[7].id}  # wildcards are literal
    assert ids(EventFilter(text="100x")) == set()
    assert ids(EventFilter(sources=["brand-watch"])) == set()
    set_status(session, stored[5].id, "in_review", actor="dsl")
    session.commit()
    assert ids(EventFilter(statuses=["in_review"])) == {stored[5].id}
    assert count_events(session, EventFilter(statuses=["new"])) == 29
    assert count_events(session) == 30


def test_summaries(session: Session, stored: list[Any], make_event: Any) -> None:
    days = counts_per_day(session)
    assert days[0].day == date(2025, 3, 3)
    assert sum(d.events for d in days) == 30
    assert days[0].sightings == days[0].events + 2  # the folded repeats
    categories = {c.category: c.events for c in counts_per_category(session)}
    assert categories == {"extremism": 9, "weapons": 9, "hate": 9, None: 3}
    ranking = user_ranking(session)
    expected: dict[str, int] = {}
    for e in stored:
        expected[e.user] = expected.get(e.user, 0) + e.severity
    expected["pupil.0"] += 2 * stored[0].severity  # the two repeats
    assert [(r.user, r.score) for r in ranking] == sorted(
        expected.items(), key=lambda kv: (-kv[1], kv[0])
    )


def test_event_with_context(session: Session, stored: list[Any]) -> None:
    detail = get_event(session, stored[9].id)
    assert detail is not None and detail.event.repeat_count == 1 and detail.audit == []
    assert get_event(session, "missing") is None
    around = events_around(session, stored[9].id, window=timedelta(hours=9))
    # pupil.0 has events every 9 hours: 6, 9 and 12 are within 9 hours of 9
    assert [e.event_id for e in around] == [stored[6].id, stored[9].id, stored[12].id]
    assert [e.event_id for e in events_around(session, stored[9].id)] == [stored[9].id]


def test_a_damaged_cursor_says_what_to_do(session: Session, stored: list[Any]) -> None:
    with pytest.raises(ValueError, match="start from the first page"):
        list_events(session, after="not-a-cursor")
    with pytest.raises(ValueError, match="unknown sort"):
        list_events(session, sort="name")


def test_ranking_uses_the_best_identity_known(
    engine: Engine, session: Session, make_event: Any
) -> None:
    """User, else device, else address: events without a user name are ranked too."""
    made = [
        make_event(user="pupil.a", severity=1),
        make_event(user=None, device="lab-pc-01", severity=3, host="x.test"),
        make_event(user=None, device=None, client_ip="10.0.0.21", severity=2, host="y.test"),
    ]
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in made], timedelta(minutes=10))
    ranking = user_ranking(session)
    assert [(r.kind, r.user, r.score, r.label) for r in ranking] == [
        ("device", "lab-pc-01", 3, "device lab-pc-01"),
        ("address", "10.0.0.21", 2, "address 10.0.0.21"),
        ("user", "pupil.a", 1, "pupil.a"),
    ]
