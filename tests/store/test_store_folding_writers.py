"""Folding with several writers (issue #16): two gateways of one school that see the same
pupil at the same moment make one event, on PostgreSQL where their writers run at once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from monitor.events import FlaggedEvent
from monitor.store.database import make_engine
from monitor.store.folding import store_rows
from monitor.store.rows import event_row

WINDOW = timedelta(minutes=10)
T0 = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def sighting(when: datetime) -> dict[str, object]:
    visit = FlaggedEvent(
        source="gateway", kind="url", action="block", category="extremism", severity=3,
        rule="extremist.test", url="http://extremist.test/", host="extremist.test",
        user="pupil.amy", when=when,
    )  # fmt: skip
    return event_row(visit)


def events(engine: Engine) -> list[tuple[int, datetime]]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT repeat_count, first_seen FROM events")).all()
    return [(count, first if isinstance(first, datetime) else datetime.fromisoformat(first))
            for count, first in rows]  # fmt: skip


def test_a_sighting_made_just_before_an_open_event_folds_into_it(engine: Engine) -> None:
    """The other gateway's sighting was made first but committed second."""
    with engine.begin() as connection:
        store_rows(connection, [sighting(T0)], WINDOW)
    with engine.begin() as connection:
        result = store_rows(connection, [sighting(T0 - timedelta(seconds=1))], WINDOW)
    assert (result.inserted, result.folded) == (0, 1)
    [(count, first)] = events(engine)
    assert count == 2 and first.replace(tzinfo=UTC) == T0 - timedelta(seconds=1)
    with engine.begin() as connection:  # well before: an event of its own
        assert store_rows(connection, [sighting(T0 - timedelta(seconds=5))], WINDOW).inserted == 1


def test_two_writers_storing_one_pupil_at_once_make_one_event(pg_store_url: str) -> None:
    first, second = make_engine(pg_store_url), make_engine(pg_store_url)
    stored = threading.Event()
    with first.begin() as connection:
        store_rows(connection, [sighting(T0)], WINDOW)  # holds the key's lock until commit

        def other_gateway() -> None:
            with second.begin() as other:
                store_rows(other, [sighting(T0 + timedelta(milliseconds=3))], WINDOW)
            stored.set()

        thread = threading.Thread(target=other_gateway)
        thread.start()
        time.sleep(0.5)
        assert not stored.is_set()  # waiting for the first writer's commit, not inserting
    thread.join(10)
    assert stored.is_set()
    assert [count for count, _ in events(first)] == [2]
    first.dispose()
    second.dispose()
