"""Folding keeps what a lead must see (issue: seven Bing searches folded into one event that
showed only the first): every distinct search term and path with counts, bounded, the
strongest severity, and every visit's reference resolving to the event that holds it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from monitor.store import details
from monitor.store.folding import store_rows
from monitor.store.models import Event, EventDetail, EventReceipt
from monitor.store.rows import event_row

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
QUERIES = [
    "zorblax front join",
    "how to join zorblax front",
    "zorblax front meeting near me",
    "zorblax front join",  # a repeat: counted, not listed twice
    "zorblax front uniform",
    "zorblax front leader",
    "zorblax front attack plans",
    "zorblax front join",
]


def search(make_event: Any, query: str, minute: float, severity: int = 2) -> Any:
    return make_event(
        kind="search", action="flag", category="proscribed", severity=severity,
        rule="search:zorblax front", host="www.bing.com",
        url=f"https://www.bing.com/search?q={query.replace(' ', '+')}", search_terms=query,
        when=T0 + timedelta(minutes=minute),
    )  # fmt: skip


def terms_of(engine: Engine, pk: int) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(EventDetail.value, EventDetail.count).where(
                EventDetail.event_pk == pk, EventDetail.kind == "term"
            )
        )
        return {value: count for value, count in rows}


def test_every_search_term_of_a_folded_event_is_kept(engine: Engine, make_event: Any) -> None:
    made = [search(make_event, q, i * 0.5, severity=3 if "attack" in q else 2)
            for i, q in enumerate(QUERIES)]  # fmt: skip
    # In three batches, as the writer would: folding into rows of this batch and of earlier ones.
    for chunk in (made[:2], made[2:5], made[5:]):
        with engine.begin() as conn:
            store_rows(conn, [event_row(e) for e in chunk], WINDOW)
    with engine.connect() as conn:
        (event,) = conn.execute(select(Event.pk, Event.repeat_count, Event.severity)).all()
        receipts = dict(conn.execute(select(EventReceipt.event_id, EventReceipt.event_pk)).all())
    pk, repeats, severity = event
    assert repeats == 8
    assert severity == 3  # the strongest seen, not the first
    assert terms_of(engine, pk) == {
        "zorblax front join": 3,
        "how to join zorblax front": 1,
        "zorblax front meeting near me": 1,
        "zorblax front uniform": 1,
        "zorblax front leader": 1,
        "zorblax front attack plans": 1,
    }
    # Every block page's reference (each visit's own id) leads to the event that holds it.
    assert {e.id for e in made} == set(receipts) and set(receipts.values()) == {pk}


def test_paths_are_kept_without_their_query(engine: Engine, make_event: Any) -> None:
    visits = [
        make_event(url=f"http://www.bad.test/forum/{n}?session=abc", when=T0 + timedelta(seconds=n))
        for n in (1, 2, 2, 3)
    ]
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in visits], WINDOW)
    with engine.connect() as conn:
        rows = conn.execute(
            select(EventDetail.value, EventDetail.count).where(EventDetail.kind == "path")
        )
        paths = {value: count for value, count in rows}
    assert paths == {"/forum/1": 1, "/forum/2": 2, "/forum/3": 1}


def test_past_the_bound_the_rest_is_counted(engine: Engine, make_event: Any, monkeypatch: Any):
    monkeypatch.setattr(details, "LIMIT", 5)
    made = [search(make_event, f"zorblax front {n}", n * 0.01) for n in range(8)]
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in made[:6]], WINDOW)
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in made[6:]], WINDOW)
    with engine.connect() as conn:
        pk, more = conn.execute(select(Event.pk, Event.more_terms)).one()
    assert len(terms_of(engine, pk)) == 5
    assert more == 3  # visits 6, 7 and 8 are counted, though their terms are not listed


def test_the_store_reads_back_details_and_references(engine: Engine, make_event: Any) -> None:
    from sqlalchemy.orm import Session

    made = [search(make_event, q, i) for i, q in enumerate(QUERIES[:3])]
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in made], WINDOW)
    with Session(engine) as session:
        pk, event_id = session.execute(select(Event.pk, Event.event_id)).one()
        found = details.details_of(session, pk)
        assert [t[0] for t in found.terms] == QUERIES[:3]
        assert [p[0] for p in found.paths] == ["/search"] and found.more_terms == 0
        assert details.event_id_for_reference(session, made[2].id) == event_id
        assert details.event_id_for_reference(session, "no-such-reference") is None
