"""The console side of bench/trust_bench.py: fill the store to a trust's million events, then
time the queue's first page as the console asks for it, under a school's scope and the trust's.

`fill()` tops the events table up to the target with a year of history before the writers' run:
rows made by the writer's own `monitor.store.rows.event_row` from `SchoolTraffic` events (so
schools, fold keys and column hygiene are the writer's), with folded repeat counts and review
states, spread over the schools unevenly (the largest has about four times the smallest's
events), loaded with COPY, then VACUUM ANALYZE. The history has no receipts: no page query reads
them (only the text search for a block page's reference, not timed here).

`time_pages()` runs what `monitor/console/queue.py` runs for `/events` with no query string:
`Store.read(list_events, <the empty query's filter>, sort="last_seen", limit=page_size)`, inside
`scope.only_schools(...)` exactly as the console's middleware wraps each request. The time is
the awaited call (thread hop, session, SQL, ORM rows), not template rendering or HTTP
(bench/console_bench.py times those).
"""

from __future__ import annotations

import asyncio
import functools
import random
import statistics
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from multidict import MultiDict
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from bench.trust_traffic import SchoolTraffic
from monitor.console.queryform import parse_queue_query
from monitor.console.settings import ConsoleSettings
from monitor.schools import Schools
from monitor.store import scope
from monitor.store.database import make_engine
from monitor.store.models import Event
from monitor.store.queries import EventPage, count_events, list_events
from monitor.store.rows import event_row
from monitor.store.runner import Store

HISTORY = timedelta(days=365)
STATUSES = ("new",) * 6 + ("in_review", "closed_no_concern", "closed_no_concern", "false_positive")


def school_weights(schools: list[str]) -> list[float]:
    """Uneven school sizes, the same every run: 0.4 to 1.6 of the mean."""
    rng = random.Random(16)
    weights = [0.4 + 1.2 * i / max(1, len(schools) - 1) for i in range(len(schools))]
    rng.shuffle(weights)
    return weights


def history_rows(schools: list[str], count: int, before: datetime) -> Iterable[dict[str, Any]]:
    rng = random.Random(2026)
    traffic = {s: SchoolTraffic(s, seed=1000 + n, pupils=300) for n, s in enumerate(schools)}
    known = {s: Schools({k: k for k in schools}, own=s) for s in schools}
    picks = rng.choices(schools, weights=school_weights(schools), k=count)
    start = before - HISTORY
    step = (HISTORY - timedelta(hours=1)) / max(1, count)
    for i, school in enumerate(picks):
        when = start + step * i
        row = event_row(traffic[school].event(when), known[school])
        repeats = 1 if rng.random() < 0.5 else 1 + int(rng.expovariate(0.3))
        row["repeat_count"] = repeats
        row["last_seen"] = when + timedelta(seconds=rng.randrange(1, 600)) * (repeats > 1)
        row["status"] = rng.choice(STATUSES)
        yield row


def fill(url: str, schools: list[str], target: int, before: datetime) -> tuple[int, int, float]:
    """Top `events` up to `target` rows; (rows added, rows now, seconds)."""
    engine = make_engine(url)
    with engine.connect() as connection:
        have = int(connection.scalar(select(func.count()).select_from(Event)) or 0)
    engine.dispose()
    need = max(0, target - have)
    started = time.perf_counter()
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.cursor() as cur:
        if need:
            rows = iter(history_rows(schools, need, before))
            first = next(rows)
            columns = list(first)
            names = ", ".join(columns)
            with cur.copy(f"COPY events ({names}) FROM STDIN") as copy:
                copy.write_row([first[c] for c in columns])
                for row in rows:
                    copy.write_row([row[c] for c in columns])
        cur.execute("VACUUM (ANALYZE) events")
    return need, have + need, time.perf_counter() - started


# -- timing the console's calls


def queue_call() -> tuple[Any, dict[str, Any]]:
    """The filter and keywords `/events` passes `list_events` with no query string."""
    settings = ConsoleSettings()
    query = parse_queue_query(MultiDict(), ZoneInfo(settings.timezone), allow_identity_filters=True)
    page_size = max(1, min(settings.page_size, 500))
    kwargs = {"sort": query.sort, "ascending": query.ascending, "limit": page_size,
              "after": query.after}  # fmt: skip
    return query.flt, kwargs


def _check_page(page: EventPage, schools: frozenset[str] | None, size: int) -> None:
    assert len(page.events) == size, f"a short page: {len(page.events)} events"
    if schools is not None:
        strays = {e.school for e in page.events} - schools
        assert not strays, f"rows of {strays} under the scope {sorted(schools)}"


async def _timed(
    store: Store, schools: frozenset[str] | None, call: Callable[[Session], Any], runs: int,
    warmup: int,
) -> list[float]:  # fmt: skip
    times = []
    with scope.only_schools(schools):
        for n in range(warmup + runs):
            started = time.perf_counter()
            await store.read(call)
            if n >= warmup:
                times.append((time.perf_counter() - started) * 1000)
    return times


def scenarios(dsl: str, pair: tuple[str, str]) -> list[tuple[str, frozenset[str] | None, str]]:
    return [
        (f"school DSL ({dsl}), first page", frozenset({dsl}), "first"),
        ("trust lead (all schools), first page", None, "first"),
        (f"school DSL ({dsl}), page 2 (keyset cursor)", frozenset({dsl}), "second"),
        (f"two-school account ({' + '.join(pair)}), first page", frozenset(pair), "first"),
        (f"school DSL ({dsl}), count of all its events (not on the queue page)",
         frozenset({dsl}), "count"),
        ("trust lead, count of all events (not on the queue page)", None, "count"),
    ]  # fmt: skip


async def time_pages(
    engine: Engine, dsl: str, pair: tuple[str, str], runs: int, warmup: int
) -> list[tuple[str, list[float]]]:
    store = Store(engine, readers=4)
    flt, kwargs = queue_call()
    results = []
    try:
        for label, schools, what in scenarios(dsl, pair):
            with scope.only_schools(schools):
                first = await store.read(list_events, flt, **kwargs)
            _check_page(first, schools, kwargs["limit"])
            after = first.next_cursor if what == "second" else None
            call: Callable[[Session], Any]
            if what == "count":
                call = functools.partial(count_events, flt=flt)
                n = max(10, runs // 4)  # a full count is slow; fewer runs are enough
            else:
                call = functools.partial(list_events, flt=flt, **{**kwargs, "after": after})
                n = runs
            results.append((label, await _timed(store, schools, call, n, warmup)))
    finally:
        store.close()
    return results


def percentiles(times: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return statistics.median(times), cuts[94], cuts[98]


# -- what PostgreSQL does with them


def explain(engine: Engine, schools: frozenset[str] | None) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the first page's SQL exactly as the scoped ORM sends it."""
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        sent.append((statement, params))

    store = Store(engine, readers=1)
    flt, kwargs = queue_call()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        with scope.only_schools(schools):
            asyncio.run(store.read(list_events, flt, **kwargs))
    finally:
        event.remove(engine, "before_cursor_execute", capture)
        store.close()
    statement, params = next((s, p) for s, p in sent if "FROM events" in s)
    with engine.connect() as conn:
        plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        lines = [str(row[0]) for row in plan]
    where = statement.split("ORDER BY")[0].partition("WHERE")[2].strip() or "(none)"
    return [f"SQL: SELECT ... FROM events WHERE {where} ORDER BY ... LIMIT ...", *lines]
