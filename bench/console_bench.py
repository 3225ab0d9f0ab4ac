"""Benchmark of the review console (issue 6, Performance), for SQLite and PostgreSQL.

With 1,000,000 events stored, a real console server (its own process, on 127.0.0.1) is asked
over HTTP, signed in as a Prevent lead, for:
- the queue's first page (`/events`),
- a filtered first page (`/events?status=new&severity=3`),
- an event page (`/events/<id>`, a different random event each time),
- a free-text search for a term that matches nothing and one that matches 1 % (issue 17),
and the p50/p95 of each is printed (target p95 <= 150 ms).

Usage: .venv/bin/python bench/console_bench.py [--rows 1000000] [--repeats 200] [--skip-pg]
The 1M events are loaded with bench/store_bench.py's bulk loader into bench/data/console-1m.sqlite
and, for PostgreSQL (--pg-url, else $PREVENT_MONITOR_TEST_PG_URL), into the schema
`console_bench` of the database `prevent_monitor_store_test`; both are kept between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from sqlalchemy import select

from bench.store_bench import (
    DATA,
    ensure_million,
    load_postgres,
    load_sqlite,
    pg_database,
    pg_schema,
)
from monitor.console.settings import ConsoleSettings
from monitor.store.accounts import HASHER, add_user
from monitor.store.database import make_engine, make_sessionmaker, normalise_url
from monitor.store.models import ConsoleUser

REPO = Path(__file__).resolve().parent.parent
USER = "bench.lead"
PASSWORD = "bench-password-not-secret"


def bench_user(url: str) -> None:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        user = session.scalar(select(ConsoleUser).where(ConsoleUser.username == USER))
        if user is None:
            add_user(session, USER, "prevent_lead", actor="bench", change_due=False)
            user = session.scalar(select(ConsoleUser).where(ConsoleUser.username == USER))
        assert user is not None
        user.password_hash = HASHER.hash(PASSWORD)
        session.commit()
    engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(url: str, port: int, data_dir: str) -> None:
    from aiohttp import web

    from monitor.console.app import create_app

    settings = ConsoleSettings(cookie_secure=False, port=port, session_key="bench" * 10)
    app = create_app(settings, url, REPO / "blocklists/policy.yaml", data_dir)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def measure(base: str, event_ids: list[str], repeats: int) -> dict[str, tuple[float, float]]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        for _ in range(100):  # wait for the server
            try:
                async with http.get(f"{base}/healthz") as r:
                    if r.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        async with http.get(f"{base}/login") as r:
            token = re.search(r'name="form_token" value="([^"]+)"', await r.text())
        assert token
        data = {"username": USER, "password": PASSWORD, "form_token": token.group(1)}
        async with http.post(f"{base}/login", data=data) as r:
            assert r.status == 200 and "Queue" in await r.text(), r.status

        async def timed(
            path_of: str | Callable[[int], str], count: int = repeats
        ) -> tuple[float, float]:
            times = []
            for i in range(count + min(10, count // 2)):
                path = path_of(i) if callable(path_of) else path_of
                start = time.perf_counter()
                async with http.get(base + path) as r:
                    body = await r.read()
                    assert r.status == 200, (path, r.status, body[:200])
                if i >= min(10, count // 2):  # the first few warm caches and the pool
                    times.append(time.perf_counter() - start)
            p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
            return statistics.median(times) * 1000, p95 * 1000

        slow_repeats = max(5, repeats // 20)
        informational = {
            "queue, free text 'pupil.0042', 0.05 % (informational)": await timed(
                "/events?q=pupil.0042", slow_repeats
            ),
            "dashboard, cached after the first (informational)": await timed(
                "/dashboard", slow_repeats
            ),
        }
        return {
            **informational,
            # issue 17: the text index (bench/store_bench.py compares it with the ILIKE scan)
            "queue, free text matching nothing": await timed("/events?q=nowhere.invalid"),
            "queue, free text matching 1 %": await timed("/events?q=17.test"),
            "queue, first page": await timed("/events"),
            "queue, status=new & severity>=3": await timed("/events?status=new&severity=3"),
            "event page": await timed(lambda i: f"/events/{event_ids[i % len(event_ids)]}"),
        }


def run_backend(name: str, url: str, rows: int, repeats: int) -> None:
    bench_user(url)
    rng = random.Random(11)
    event_ids = [f"{rng.randrange(rows):032x}" for _ in range(repeats + 10)]  # store_bench's ids
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        server = multiprocessing.get_context("spawn").Process(
            target=serve, args=(url, port, tmp), daemon=True
        )
        server.start()
        try:
            results = asyncio.run(measure(f"http://127.0.0.1:{port}", event_ids, repeats))
        finally:
            server.terminate()
            server.join(10)
    print(f"\n{name} ({rows:,} events, {repeats} requests each, over HTTP)")
    for label, (p50, p95) in results.items():
        verdict = "meets" if p95 <= 150 else "MISSES"
        print(f"  {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms ({verdict} the 150 ms target)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--pg-url", default=os.environ.get("PREVENT_MONITOR_TEST_PG_URL"))
    parser.add_argument("--skip-pg", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    DATA.mkdir(exist_ok=True)
    print(f"console benchmark: {os.cpu_count()} CPUs")
    if not args.skip_sqlite:
        path = DATA / "console-1m.sqlite"
        url = f"sqlite:///{path}"
        ensure_million(url, args.rows, lambda: load_sqlite(path, args.rows))
        run_backend("SQLite", url, args.rows, args.repeats)
    if args.pg_url and not args.skip_pg:
        base = pg_database(args.pg_url)
        url = pg_schema(base, "console_bench", fresh=False)
        ensure_million(url, args.rows, lambda: load_postgres(normalise_url(url), args.rows))
        run_backend("PostgreSQL", url, args.rows, args.repeats)
    elif not args.skip_pg:
        print("\nPostgreSQL: skipped (set --pg-url or PREVENT_MONITOR_TEST_PG_URL)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
