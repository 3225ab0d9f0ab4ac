"""Benchmark of a trust of many schools on one PostgreSQL (issue #16).

1. Writers: `--processes` gateway writer processes (default 20), one per school s01..s20, each a
   real `EventWriter` with its own school id (every school of the trust known), submit fictional
   flagged events (bench/trust_traffic.py) paced at a combined `--rate` (2,000/s) for
   `--duration` (60 s) to the local PostgreSQL. Printed: events/s submitted and held (committed,
   folded repeats included, per second of the run), write latency (submit to the commit of the
   event's transaction, timed in each writer process), the deepest writer queue, the spool, the
   CPU of the writers, of their PostgreSQL backends and of everything else on the machine.
2. Checks: every submitted event has a receipt, under its own school (receipts per school ==
   events submitted per school), repeat counts add up, no replays, nothing spooled or dropped,
   and how many fold keys hold more than one event inside the fold window (split folds).
3. Console: the store is filled to `--events` (1,000,000) over the schools (bench/trust_pages.py),
   then the queue's first page, as `/events` asks for it, is timed `--runs` (200) times after a
   warm-up, under a school DSL's scope and the trust lead's (no scope), with EXPLAIN ANALYZE.

There is no external peer: nothing else open writes this store. Figures are absolute.

Variants: `--schools 10` gives each school two of the 20 gateways, fed the same pupils' traffic
(the shipped scale-out spreads one pupil's connections over its gateways), which is what splits
folds (the store now locks fold keys on PostgreSQL and folds a sighting made just before an
open event into it, so there should be none); `--linger S` sets how long each writer waits for
more events before a batch (the shipped writer's is 50 ms; 0 writes each event at once, as
before).

Usage: .venv/bin/python bench/trust_bench.py [--processes 20] [--rate 2000] [--duration 60]
       [--events 1000000] [--runs 200] [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432/]
It creates the database `--database` (prevent_trust_bench), and drops it at the end unless
`--keep`; it never touches any other database.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text

from bench.trust_machine import backend_pids, busy_seconds, process_seconds, sample_backends
from bench.trust_pages import explain, fill, percentiles, time_pages
from bench.trust_traffic import WriterSpec, school_ids, writer_process
from monitor.store.database import make_engine, normalise_url
from monitor.store.migrate import upgrade
from monitor.store.writer import DEFAULT_FOLD_WINDOW

# -- the database


def bench_database(raw: str, name: str, fresh: bool) -> str:
    if name in ("test", "postgres", "template0", "template1"):
        raise SystemExit(f"refusing to use the database {name!r}: give the bench its own")
    base = normalise_url(raw)
    admin = create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
        if exists and fresh:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        if fresh or not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(raw: str, name: str) -> None:
    admin = create_engine(normalise_url(raw).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


# -- 1. the writers


def run_writers(url: str, args: argparse.Namespace, spool: str) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    schools = school_ids(args.schools)
    start_at = ctx.Value("d", 0.0)
    barriers = tuple(ctx.Barrier(args.processes + 1) for _ in range(3))
    results: Any = ctx.Queue()
    specs = [
        # The gateways of one school see the same pupils' traffic (as HAProxy spreads one
        # pupil's connections over them): their fold keys collide as hard as they can.
        WriterSpec(url, schools[n % len(schools)], schools, args.rate / args.processes,
                   args.duration, seed=n % len(schools), spool_root=f"{spool}/{n}",
                   linger=args.linger)
        for n in range(args.processes)
    ]  # fmt: skip
    load = os.getloadavg()
    procs = [ctx.Process(target=writer_process, args=(s, start_at, barriers, results))
             for s in specs]  # fmt: skip
    for proc in procs:
        proc.start()
    try:
        barriers[0].wait(timeout=600)  # every writer connected
        pids = backend_pids(url, args.database)
        pg0, (busy0, all0) = process_seconds(pids), busy_seconds()
        start_at.value = time.monotonic() + 0.5
        barriers[1].wait(timeout=60)
        waits = sample_backends(url, args.database, until=start_at.value + args.duration)
        barriers[2].wait(timeout=args.duration + 900)  # submitted and flushed
        wall = time.monotonic() - start_at.value
        pg, (busy, total) = process_seconds(pids) - pg0, busy_seconds()
        got = [results.get(timeout=120) for _ in procs]
    except BaseException:
        for proc in procs:
            proc.terminate()
        raise
    for proc in procs:
        proc.join(timeout=120)
    cores = (total - all0) / wall
    return {"results": got, "wall": wall, "pg_cpu": pg, "busy": busy - busy0, "cores": cores,
            "backends": len(pids), "load_before": load, "waits": waits}  # fmt: skip


def writer_figures(run: dict[str, Any], duration: float) -> dict[str, Any]:
    res = run["results"]
    submitted = sum(r["submitted"] for r in res)
    committed = sum(r["committed"] for r in res)
    per_second = [0] * int(duration)
    for r in res:
        for second, n in r["per_second"].items():
            if 0 <= int(second) < len(per_second):
                per_second[int(second)] += n
    steady = per_second[2:-1] or per_second
    latencies = sorted(t * 1000 for r in res for _, t in r["latencies"])
    cuts = statistics.quantiles(latencies, n=1000, method="inclusive")
    batches = [n for r in res for n, _ in r["batches"]]
    transaction_ms = sorted(t * 1000 for r in res for _, t in r["batches"])
    writers_cpu = sum(r["cpu"] for r in res)
    return {
        "timeline": timeline(res, per_second, duration),
        "submitted": submitted, "committed": committed,
        "submitted_rate": submitted / duration,
        "held_rate": sum(per_second) / duration, "min_second": min(steady),
        "max_second": max(steady), "drain": max(r["last_commit"] for r in res) - duration,
        "p50": statistics.median(latencies), "p99": cuts[989], "p999": cuts[998],
        "max": latencies[-1], "max_depth": max(r["max_depth"] for r in res),
        "transactions": len(batches), "mean_batch": statistics.mean(batches),
        "max_batch": max(batches), "tx_p50": statistics.median(transaction_ms),
        "tx_p99": statistics.quantiles(transaction_ms, n=100, method="inclusive")[98],
        "spooled": sum(r["spooled"] for r in res),
        "spool_records": sum(r["spool_records"] for r in res),
        "spool_bytes": sum(r["spool_bytes"] for r in res),
        "written": sum(r["written"] for r in res), "folded": sum(r["folded"] for r in res),
        "duplicates": sum(r["duplicates"] for r in res), "errors": sum(r["errors"] for r in res),
        "dropped": sum(r["dropped"] for r in res), "held": sum(r["held"] for r in res),
        "flushed": all(r["flushed"] for r in res),
        "writers_cores": writers_cpu / run["wall"],
        "generator_cores": sum(r["main_cpu"] for r in res) / run["wall"],
        "pg_cores": run["pg_cpu"] / run["wall"], "busy_cores": run["busy"] / run["wall"],
        "writer_ms": writers_cpu / submitted * 1000, "pg_ms": run["pg_cpu"] / submitted * 1000,
    }  # fmt: skip


def timeline(res: list[dict[str, Any]], per_second: list[int], duration: float) -> str:
    """Committed events/s and the p99 latency of the events submitted, per tenth of the run."""
    step = max(1, int(duration) // 10)
    parts = []
    for start in range(0, int(duration), step):
        rate = sum(per_second[start : start + step]) / step
        late = [t for r in res for at, t in r["latencies"] if start <= at < start + step]
        p99 = statistics.quantiles(late, n=100, method="inclusive")[98] if len(late) > 1 else 0
        parts.append(f"{start}-{start + step} s: {rate:,.0f}/s, p99 {p99 * 1000:,.0f} ms")
    return "; ".join(parts)


# -- 2. the checks


def stored_figures(url: str, fold_window_s: float) -> dict[str, Any]:
    engine = make_engine(url)
    with engine.connect() as conn:
        receipts: dict[str, int] = dict(conn.execute(text(
            "SELECT e.school, count(*) FROM event_receipts r JOIN events e ON e.pk = r.event_pk "
            "GROUP BY e.school")).all())  # fmt: skip
        events = {s: (int(n), int(r)) for s, n, r in conn.execute(text(
            "SELECT school, count(*), sum(repeat_count) FROM events GROUP BY school"))}  # fmt: skip
        splits = conn.scalar(text(
            "SELECT count(*) FROM (SELECT first_seen, lag(first_seen) OVER "
            "(PARTITION BY fold_key ORDER BY first_seen) AS prev FROM events) AS f "
            "WHERE prev IS NOT NULL AND first_seen < prev + make_interval(secs => :w)"),
            {"w": fold_window_s})  # fmt: skip
        details = conn.scalar(text("SELECT count(*) FROM event_details"))
    engine.dispose()
    return {"receipts": {s: int(n) for s, n in receipts.items()}, "events": events,
            "splits": int(splits or 0), "details": int(details or 0)}  # fmt: skip


def check(run: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """What is wrong with what was stored (empty: every event is there, under its school)."""
    problems = []
    by_school: dict[str, int] = {}
    for r in run["results"]:
        by_school[r["school"]] = by_school.get(r["school"], 0) + r["submitted"]
    for school, submitted in sorted(by_school.items()):
        got = stored["receipts"].get(school, 0)
        if got != submitted:
            problems.append(f"{school}: {submitted} events submitted, {got} receipts stored")
        _, sightings = stored["events"].get(school, (0, 0))
        if sightings != got:
            problems.append(f"{school}: repeat counts add up to {sightings}, receipts {got}")
    strays = set(stored["receipts"]) - set(by_school)
    if strays:
        problems.append(f"receipts under schools no writer was: {sorted(strays)}")
    return problems


# -- reporting


def print_writers(f: dict[str, Any], args: argparse.Namespace, run: dict[str, Any]) -> None:
    linger = ""
    if args.linger is not None:
        linger = f", each writer lingering {args.linger * 1000:.0f} ms"
    print(
        f"\n1. {args.processes} gateway writer processes for {args.schools} schools, "
        f"{args.rate:,.0f} events/s combined for {args.duration:.0f} s{linger} (load average "
        f"before starting them: {run['load_before'][0]:.1f} on {run['cores']:.0f} cores)"
    )
    print(f"  submitted: {f['submitted']:,} events, {f['submitted_rate']:,.0f}/s")
    print(
        f"  held: {f['held_rate']:,.0f} events/s committed during the run (each second "
        f"{f['min_second']:,}-{f['max_second']:,}); the last commit {f['drain']:+.2f} s "
        f"after the last submit's second"
    )
    print(
        f"  write latency, submit -> transaction committed: p50 {f['p50']:.1f} ms, "
        f"p99 {f['p99']:.1f} ms, p99.9 {f['p999']:.1f} ms, max {f['max']:.1f} ms"
    )
    total = sum(run["waits"].values()) or 1
    waits = ", ".join(f"{what} {n / total:.0%}" for what, n in run["waits"].most_common(6))
    print(f"  the PostgreSQL backends, sampled every 0.25 s: {waits}")
    print(f"  per {int(args.duration) // 10 or 1} s, committed and write latency: {f['timeline']}")
    print(
        f"  transactions: {f['transactions']:,}, {f['mean_batch']:.1f} events each on "
        f"average (largest {f['max_batch']}), each p50 {f['tx_p50']:.0f} ms / p99 "
        f"{f['tx_p99']:.0f} ms from the first statement to the commit; deepest writer queue "
        f"seen: {f['max_depth']} events"
    )
    print(
        f"  stored: {f['written']:,} new events, {f['folded']:,} folded into one, "
        f"{f['duplicates']} replays; spool: {f['spooled']} spooled, {f['spool_records']} "
        f"records / {f['spool_bytes']} bytes left; {f['errors']} refused, {f['held']} held, "
        f"{f['dropped']} dropped; every writer flushed: {f['flushed']}"
    )
    print(
        f"  CPU (cores, over the run): writer processes {f['writers_cores']:.2f} (of which "
        f"making and submitting events {f['generator_cores']:.2f}), their {run['backends']} "
        f"PostgreSQL backends {f['pg_cores']:.2f}, the whole machine {f['busy_cores']:.2f} "
        f"(everything else: {f['busy_cores'] - f['writers_cores'] - f['pg_cores']:.2f}); per "
        f"event, {f['writer_ms']:.2f} ms in the writers and {f['pg_ms']:.2f} ms in PostgreSQL"
    )


def print_checks(stored: dict[str, Any], problems: list[str]) -> None:
    receipts = sum(stored["receipts"].values())
    events = sum(n for n, _ in stored["events"].values())
    print(
        f"\n2. Stored: {receipts:,} receipts in {events:,} events over "
        f"{len(stored['events'])} schools, {stored['details']:,} folded terms/paths kept"
    )
    print(f"  split folds (a fold key with two events inside the fold window): {stored['splits']}")
    if problems:
        print("  LOST OR MISPLACED EVENTS:\n    " + "\n    ".join(problems))
    else:
        print("  every submitted event has its receipt, under its own school; repeat counts "
              "add up to the receipts")  # fmt: skip


def print_pages(results: list[tuple[str, list[float]]], rows: int) -> None:
    print(
        f"\n3. Console queue, first page (50 events, newest first), {rows:,} events stored, "
        "through Store.read under the account's school scope"
    )
    for label, times in results:
        p50, p95, p99 = percentiles(times)
        print(
            f"  {label}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms ({len(times)} runs)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=20, help="gateway writer processes")
    parser.add_argument("--schools", type=int, help="schools (default: one per process); "
                        "fewer than --processes gives schools several gateways, which share "
                        "pupils and so fold keys")  # fmt: skip
    parser.add_argument("--rate", type=float, default=2000.0, help="combined events/s")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of writing")
    parser.add_argument(
        "--linger", type=float, default=None,
        help="seconds each writer waits for more events before it writes a batch (default: "
        "the shipped writer's)",
    )  # fmt: skip
    parser.add_argument("--events", type=int, default=1_000_000, help="events for the pages")
    parser.add_argument("--runs", type=int, default=200, help="timed runs of each page")
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--dsl-school", default="s07")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/")
    parser.add_argument("--database", default="prevent_trust_bench")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--pages-only", action="store_true", help="reuse a kept database")
    parser.add_argument("--skip-pages", action="store_true", help="the writers only")
    args = parser.parse_args()
    args.schools = args.schools or args.processes
    if not args.skip_pages and args.dsl_school not in school_ids(args.schools):
        parser.error(f"--dsl-school {args.dsl_school} is not one of s01..s{args.schools:02d}")
    print(
        f"trust benchmark: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
        "no external peer (figures are absolute)"
    )
    url = bench_database(args.pg_url, args.database, fresh=not args.pages_only)
    try:
        if not args.pages_only:
            upgrade(url, default_school="s01")
            write_phase(url, args)
        if not args.skip_pages:
            pages_phase(url, args)
    finally:
        if not args.keep:
            drop_database(args.pg_url, args.database)
    return 0


def write_phase(url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="trust-bench-spool-") as spool:
        run = run_writers(url, args, spool)
        leftovers = [p for p in Path(spool).rglob("*") if p.is_file() and p.stat().st_size]
    print_writers(writer_figures(run, args.duration), args, run)
    stored = stored_figures(url, DEFAULT_FOLD_WINDOW.total_seconds())
    print_checks(stored, check(run, stored))
    if leftovers:
        print(f"  spool files left with data: {[str(p) for p in leftovers]}")


def pages_phase(url: str, args: argparse.Namespace) -> None:
    import asyncio

    schools = school_ids(args.schools)
    added, rows, seconds = fill(url, schools, args.events, before=datetime.now(UTC))
    print(
        f"\n  filled: {added:,} events of history added in {seconds:.0f} s "
        "(COPY, then VACUUM ANALYZE)"
    )
    pair = (schools[min(2, len(schools) - 1)], args.dsl_school)
    engine = make_engine(url)
    try:
        results = asyncio.run(time_pages(engine, args.dsl_school, pair, args.runs, args.warmup))
        print_pages(results, rows)
        for label, schools_seen in (
            (f"school DSL ({args.dsl_school})", frozenset({args.dsl_school})),
            ("trust lead", None),
            (f"two-school account ({' + '.join(pair)})", frozenset(pair)),
        ):
            print(f"\n  EXPLAIN ANALYZE, first page, {label}:")
            print("    " + "\n    ".join(explain(engine, schools_seen)))
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
