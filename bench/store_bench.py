"""Benchmark of the flagged-events store (issue 3, Performance), for SQLite and PostgreSQL.

Prints, per backend:
- sustained events/s through `EventWriter` (submit -> flushed to the database; target >= 5,000/s)
- the longest time `submit()` held the caller's asyncio event loop (target < 1 ms), with p99.9
- the p95 time of the console's first event-list page with 1,000,000 events stored
  (target <= 100 ms), plus a filtered first page and a deep keyset page
- the p95 time of a free-text search's first page (issue 17: target <= 150 ms) for a term that
  matches nothing and one that matches 1 % of the events, served from the text-search index
  (migration 0010) and, in the same run, by the ILIKE scan that came before it, with the ratio;
  and the writer's events/s with and without the index (its write cost)

Usage: .venv/bin/python bench/store_bench.py [--events 50000] [--rows 1000000] [--skip-pg]
       [--search-repeats 200] [--scan-repeats 10]
PostgreSQL: --pg-url, else $PREVENT_MONITOR_TEST_PG_URL; it works in the database
`prevent_monitor_store_test` (created if missing), schemas `bench_writer` and `bench_pages`.
The SQLite files live in bench/data/ (ignored by git); the 1M-row tables are kept between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import URL

from monitor.events import FlaggedEvent
from monitor.store import queries
from monitor.store.database import make_engine, make_sessionmaker, normalise_url
from monitor.store.migrate import upgrade
from monitor.store.models import Event
from monitor.store.queries import EventFilter, list_events
from monitor.store.textsearch import ilike_matches
from monitor.store.writer import EventWriter

DATA = Path(__file__).resolve().parent / "data"
T0 = datetime(2025, 1, 6, 8, 0, tzinfo=UTC)
CATEGORIES = ["extremism", "weapons", "hate", "self-harm", "proxy", None]


def fictional_event(rng: random.Random, when: datetime) -> FlaggedEvent:
    user = rng.randrange(2000)
    rule = rng.randrange(300)
    return FlaggedEvent(
        source="gateway",
        kind=rng.choice(["url", "url", "url", "search", "page"]),
        action=rng.choice(["block", "block", "flag", "study"]),
        category=CATEGORIES[rule % len(CATEGORIES)],
        severity=rule % 5,
        rule=f"domain:site{rule}.test",
        url=f"http://www.site{rule}.test/path/{rng.randrange(10**6)}?q=x",
        host=f"www.site{rule}.test",
        reason="listed in a fictional list",
        rule_source=f"blocklists/fictional.txt:{rule}",
        user=f"pupil.{user:04d}",
        device=f"pc-{user % 400:03d}",
        client_ip=f"10.{user // 250}.{user % 250}.7",
        group=f"year{7 + user % 7}",
        policy_version="bench",
        when=when,
    )


# -- writer throughput and submit latency


async def drive_writer(url: str, n: int, spool: str) -> tuple[float, float, float, Any]:
    rng = random.Random(3)
    # ~25% repeats of a recent event (same user, rule and host: folded), the rest fresh.
    events: list[FlaggedEvent] = []
    for i in range(n):
        when = T0 + timedelta(milliseconds=20 * i)
        if events and rng.random() < 0.25:
            prev = events[rng.randrange(max(0, len(events) - 200), len(events))]
            events.append(FlaggedEvent(**{**prev.as_dict(), "when": when, "id": f"r{i:08d}x"}))
        else:
            events.append(fictional_event(rng, when))
    writer = EventWriter(url, spool_dir=spool, batch_size=1000)
    writer.start()
    held: list[float] = []
    start = time.perf_counter()
    for i, event in enumerate(events):
        t = time.perf_counter()
        writer.submit(event)
        held.append(time.perf_counter() - t)
        if i % 200 == 199:
            await asyncio.sleep(0)  # a real proxy loop does other work between flows
    ok = await asyncio.to_thread(writer.flush, 600)
    elapsed = time.perf_counter() - start
    stats = writer.stats
    writer.close(60)
    assert ok, "writer did not flush"
    over = sum(1 for h in held if h > 0.001)
    held.sort()
    return n / elapsed, held[-1] * 1000, held[int(len(held) * 0.999)] * 1000, (stats, over)


# -- first page with a million events


def sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def million_rows(n: int) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(7)
    span = 365 * 24 * 3600
    for i in range(n):
        rule = rng.randrange(300)
        user = rng.randrange(2000)
        first = T0 + timedelta(seconds=span * i / n)
        yield (
            f"{i:032x}", "gateway", "url", "block", CATEGORIES[rule % 6], rule % 5,
            f"domain:site{rule}.test", f"http://www.site{rule}.test/p/{i}", f"www.site{rule}.test",
            "listed", f"pupil.{user:04d}", f"pc-{user % 400:03d}", f"year{7 + user % 7}",
            first, first + timedelta(seconds=rng.randrange(300)), 1 + rng.randrange(3),
            f"{rule:020x}{user:020x}", "new" if rng.random() < 0.7 else "closed_no_concern",
        )  # fmt: skip


COLUMNS = (
    "event_id, source, kind, action, category, severity, rule, url, host, reason, user_name, "
    "device, group_name, first_seen, last_seen, repeat_count, fold_key, status"
)


def load_sqlite(path: Path, n: int) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    marks = ",".join("?" * 18)
    with conn:
        conn.executemany(
            f"INSERT INTO events ({COLUMNS}) VALUES ({marks})",
            (
                (*row[:13], sqlite_time(row[13]), sqlite_time(row[14]), *row[15:])
                for row in million_rows(n)
            ),
        )
    conn.execute("ANALYZE")
    conn.close()


def load_postgres(url: URL, n: int) -> None:
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
            for row in million_rows(n):
                copy.write_row(row)
        conn.commit()
        cur.execute("ANALYZE events")
        conn.commit()


def ensure_million(url: str, n: int, loader: Callable[[], None]) -> None:
    upgrade(url)
    engine = make_engine(url)
    with engine.connect() as conn:
        have = conn.scalar(select(func.count()).select_from(Event)) or 0
    if have != n:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM event_receipts"))
            conn.execute(text("DELETE FROM events"))
        start = time.perf_counter()
        loader()
        print(f"  loaded {n:,} events in {time.perf_counter() - start:.1f} s")
    engine.dispose()


def page_times(url: str, repeats: int = 200) -> dict[str, float]:
    engine = make_engine(url, readonly=True)
    sessions = make_sessionmaker(engine)
    results: dict[str, float] = {}

    def measure(name: str, call: Callable[[Any], Any]) -> None:
        times = []
        for _ in range(repeats):
            with sessions() as session:
                start = time.perf_counter()
                page = call(session)
                assert len(page.events) == 50
                times.append(time.perf_counter() - start)
        results[name] = statistics.quantiles(times, n=20)[-1] * 1000  # p95 in ms

    with sessions() as session:
        deep = None
        for _ in range(200):  # 200 pages in: a deep cursor
            deep = list_events(session, limit=50, after=deep).next_cursor
    measure("first page (newest first)", lambda s: list_events(s, limit=50))
    flt = EventFilter(statuses=["new"], min_severity=3)
    measure("first page, status=new & severity>=3", lambda s: list_events(s, flt, limit=50))
    measure("first page, sorted by severity", lambda s: list_events(s, sort="severity", limit=50))
    measure("page 201 (keyset cursor)", lambda s: list_events(s, limit=50, after=deep))
    engine.dispose()
    return results


# -- free-text search with a million events, with the index and by the ILIKE scan before it

SEARCHES = (  # label, term, in the target
    ("a term that matches nothing", "nowhere.invalid", True),
    ("a term that matches 1 %", "17.test", True),  # www.site17/117/217.test: 3 rules of 300
    ("a pupil's name, 0.05 %", "pupil.0042", False),
    ("a common term, 37 %", "site1", False),  # site1, site10-19, site100-199
    ("no match, every trigram common", "www.site17.test/p/9999999", False),
    ("two characters, no match (no trigram)", "zq", False),
)


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] * 1000


def search_times(url: str, repeats: int, scan_repeats: int) -> list[tuple[str, float, ...]]:
    """(label, p95 with the index, p95 by the ILIKE scan, and the same two in this thread's CPU
    time: SQLite's work, whatever else the machine runs) of each term's first page."""
    engine = make_engine(url, readonly=True)
    sessions = make_sessionmaker(engine)

    def measure(term: str, count: int, indexed: bool) -> tuple[float, float, list[str]]:
        times, cpu, found = [], [], []
        with contextlib.ExitStack() as stack:
            if not indexed:  # the search as it was: the same query, the old text condition
                stack.enter_context(mock.patch.object(queries, "text_matches", ilike_matches))
            for _ in range(count):
                with sessions() as session:
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    page = list_events(session, EventFilter(text=term), limit=50)
                    times.append(time.perf_counter() - start)
                    cpu.append(time.thread_time() - start_cpu)
                found = [e.event_id for e in page.events]
        return p95(times), p95(cpu), found

    results = []
    for label, term, target in SEARCHES:
        scans = scan_repeats if target else max(2, scan_repeats // 2)
        count = repeats if target else max(2, repeats // 10)
        indexed, indexed_cpu, found = measure(term, count, True)
        scanned, scanned_cpu, expected = measure(term, scans, False)
        assert found == expected, f"{term!r}: the index and the scan disagree"
        label = f"{label} ({term!r}, {len(found)} on page 1)"
        results.append((label, indexed, scanned, indexed_cpu, scanned_cpu))
    engine.dispose()
    return results


def without_text_index(url: str) -> None:
    """Migration 0010's downgrade by hand: a store at head as it was before the index."""
    engine = make_engine(url)
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP INDEX ix_events_text_trgm")
        else:
            for name in ("events_text_insert", "events_text_delete", "events_text_update"):
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
            conn.exec_driver_sql("DROP TABLE events_text")
    engine.dispose()


def writer_runs(fresh_url: Callable[[], str], n: int, runs: int = 2) -> dict[str, Any]:
    """The writer on fresh stores, alternately without and with the index: the median events/s,
    this process's CPU time per event (on SQLite, the writer's and the index's work) and the
    cost of plain INSERTs (`insert_cost`) of each (`runs` apiece), and the last run with the
    index (the headline writer figures)."""
    kinds = ("without", "with")
    found: dict[str, list[float]] = {f"{k}{m}": [] for k in kinds for m in ("", " cpu", " insert")}
    last: Any = None

    def fresh(kind: str) -> str:
        url = fresh_url()
        upgrade(url)
        if kind == "without":
            without_text_index(url)
        return url

    for _ in range(runs):
        for kind in kinds:
            url = fresh(kind)
            start = time.process_time()
            with tempfile.TemporaryDirectory() as tmp:
                last = asyncio.run(drive_writer(url, n, f"{tmp}/spool"))
            found[kind + " cpu"].append((time.process_time() - start) / n * 1e6)
            found[kind].append(last[0])
            found[kind + " insert"].append(insert_cost(fresh(kind), n))
    return {"last": last, **{k: statistics.median(v) for k, v in found.items()}}


def insert_cost(url: str, n: int) -> float:
    """Microseconds per event of plain INSERTs, 1,000 rows a transaction, without the writer:
    this process's CPU time on SQLite (the database works in it), elapsed time on PostgreSQL."""
    engine = make_engine(url)
    sqlite = engine.dialect.name == "sqlite"
    marks = ", ".join(["?" if sqlite else "%s"] * 18)
    rows = [
        (*r[:13], sqlite_time(r[13]), sqlite_time(r[14]), *r[15:]) if sqlite else r
        for r in million_rows(n)
    ]
    clock = time.process_time if sqlite else time.perf_counter
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        start = clock()
        for i in range(0, n, 1000):
            if sqlite:
                cursor.execute("BEGIN")  # the store's connections leave transactions to us
            insert = f"INSERT INTO events ({COLUMNS}) VALUES ({marks})"
            cursor.executemany(insert, rows[i : i + 1000])
            raw.commit()
        return (clock() - start) / n * 1e6
    finally:
        raw.close()
        engine.dispose()


# -- driver


def pg_database(raw: str) -> URL:
    url = normalise_url(raw)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.exec_driver_sql(
            "SELECT 1 FROM pg_database WHERE datname = 'prevent_monitor_store_test'"
        ).scalar():
            conn.exec_driver_sql("CREATE DATABASE prevent_monitor_store_test")
    admin.dispose()
    return url.set(database="prevent_monitor_store_test")


def pg_schema(base: URL, schema: str, fresh: bool) -> str:
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if fresh:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    engine.dispose()
    url = base.update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


def report(
    name: str,
    writer: dict[str, Any],
    pages: dict[str, float],
    searches: list[tuple[str, float, ...]],
) -> None:
    rate, held_max, held_999, (stats, over) = writer["last"]
    print(f"\n{name} (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    print(
        f"  writer: {rate:,.0f} events/s sustained (target >= 5,000) "
        f"[written {stats.written:,}, folded {stats.folded:,}, spooled {stats.spooled}]"
    )
    print(
        f"  submit() held the event loop: max {held_max:.3f} ms (target < 1 ms), "
        f"p99.9 {held_999:.4f} ms, {over} of the submits over 1 ms"
    )
    before, after = writer["without"], writer["with"]
    print(
        f"  writer, median events/s: {before:,.0f} without the text index, {after:,.0f} with it "
        f"({after / before:.2f}x; {1e6 / after - 1e6 / before:+.1f} us per event)"
    )
    if name == "SQLite":
        cpu_before, cpu_after = writer["without cpu"], writer["with cpu"]
        print(f"  writer, CPU per event (all of this process): {cpu_before:.1f} us without the "
              f"index, {cpu_after:.1f} us with it ({cpu_after - cpu_before:+.1f} us)")  # fmt: skip
    plain_before, plain_after = writer["without insert"], writer["with insert"]
    clock = "CPU" if name == "SQLite" else "elapsed"
    print(f"  plain INSERTs, 1,000 a transaction, {clock} per event: {plain_before:.1f} us "
          f"without the index, {plain_after:.1f} us with it "
          f"({plain_after - plain_before:+.1f} us)")  # fmt: skip
    for label, p95 in pages.items():
        print(f"  {label}: p95 {p95:.1f} ms (target <= 100 ms)")
    for label, indexed, scanned, indexed_cpu, scanned_cpu in searches:
        verdict = "meets" if indexed <= 150 else "MISSES"
        cpu = f" [CPU p95 {indexed_cpu:.1f} / {scanned_cpu:.1f} ms]" if name == "SQLite" else ""
        print(f"  text search, {label}: p95 {indexed:.1f} ms with the index ({verdict} <= 150 ms), "
              f"{scanned:.1f} ms by ILIKE scan: {scanned / indexed:.1f}x faster{cpu}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events through the writer")
    parser.add_argument("--rows", type=int, default=1_000_000, help="events stored for pages")
    parser.add_argument("--search-repeats", type=int, default=200, help="per indexed search")
    parser.add_argument("--scan-repeats", type=int, default=10, help="per ILIKE scan (seconds)")
    parser.add_argument("--pg-url", default=os.environ.get("PREVENT_MONITOR_TEST_PG_URL"))
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    print(f"store benchmark: {args.events:,} events through the writer, "
          f"{args.rows:,} stored for the event list; {os.cpu_count()} CPUs")  # fmt: skip
    repeats = (args.search_repeats, args.scan_repeats)

    if not args.skip_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            names = iter(range(1000))
            writer = writer_runs(lambda: f"sqlite:///{tmp}/writer{next(names)}.sqlite", args.events)
        pages_path = DATA / "store-1m.sqlite"
        pages_url = f"sqlite:///{pages_path}"
        ensure_million(pages_url, args.rows, lambda: load_sqlite(pages_path, args.rows))
        report("SQLite", writer, page_times(pages_url), search_times(pages_url, *repeats))

    if args.pg_url and not args.skip_pg:
        base = pg_database(args.pg_url)
        writer = writer_runs(lambda: pg_schema(base, "bench_writer", fresh=True), args.events)
        pages_url = pg_schema(base, "bench_pages", fresh=False)
        ensure_million(
            pages_url, args.rows, lambda: load_postgres(normalise_url(pages_url), args.rows)
        )
        searches = search_times(pages_url, *repeats)
        report("PostgreSQL", writer, page_times(pages_url), searches)
    elif not args.skip_pg:
        print("\nPostgreSQL: skipped (set --pg-url or PREVENT_MONITOR_TEST_PG_URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
