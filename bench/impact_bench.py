"""Benchmark of the console's impact preview (issue #15 item 3): 7 days of a 1,500-pupil school.

Generates into a temporary SQLite store a week of recorded requests, as the gateway would have
written them, then times the preview end to end (`start_preview()` to its result, on a real
console `Store`) for two typical changes: adding a block entry, and removing an allowlist entry.
While each preview runs, it samples the console's event loop every 10 ms and reports the
longest lag, because the console must stay responsive.

The traffic model (see docs/benchmarks.md for why):

- pupils browse on school days between 08:30 and 15:30 (London), about `--minutes` active
  minutes each (Poisson), touching about `--hosts-per-minute` hosts in each (Poisson, at least
  one) with 1 + a geometric number of requests per host (mean 1.7); the defaults make ~200
  requests per pupil per school day, folded by the context log into one row per
  (pupil, minute, host, action), so ~120 rows;
- at the weekend 3 % of pupils browse 20 minutes on one day;
- hosts are drawn Zipf-like (s = 1.1) from `--sites` fictional sites (`*.example`), each with
  a `www.`, a `cdn.` and a `static.` host; 5 % of identities are a device or an address only;
- the policy has a 5,000-site games list (blocked), a social list blocked in lesson time by a
  schedule, a local block list and an allowlist; blocked, flagged and study visits become
  events folded per pupil, host and day.

Usage: .venv/bin/python bench/impact_bench.py [--pupils 1500] [--minutes 40] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import cProfile
import math
import pstats
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert

from filters.policy import Policy
from monitor.console.app import make_console, open_store
from monitor.console.impact import previews, start_preview
from monitor.console.impactjob import PreviewJob
from monitor.console.impactreplay import run_preview
from monitor.console.settings import ConsoleSettings
from monitor.store.database import make_engine
from monitor.store.migrate import upgrade
from monitor.store.models import ContextEntry, Event

LONDON = ZoneInfo("Europe/London")
SUBS = ("www", "cdn", "static")
GAMES_SITES = 5_000  # sites in the games list: every 40th site, 500 of them browsed
SOCIAL_SITES = 50
POLICY = """school: Bench Academy (fictional)
timezone: Europe/London
categories:
  extremism: {description: terrorist or extremist material, severity: high, action: block}
  games: {description: online games, severity: low, action: block}
  social: {description: social media, severity: low, action: allow}
lists:
  - {file: local/block.yaml, category: extremism}
  - {file: games.domains, category: games}
  - {file: social.domains, category: social}
allowlist:
  - {file: local/allow.yaml}
groups:
  pupils: {}
  year13: {directory_groups: [year13]}
  staff: {directory_groups: [staff], actions: {games: flag}}
default_group: pupils
schedules:
  - name: lessons
    groups: [pupils, year13]
    days: [mon, tue, wed, thu, fri]
    from: "09:00"
    until: "15:00"
    actions: {social: block}
"""


def site_of(index: int) -> str:
    return f"site{index}.example"


def write_policy(folder: Path) -> Path:
    (folder / "local").mkdir(parents=True)
    (folder / "policy.yaml").write_text(POLICY, encoding="utf-8")
    games = [site_of(i) for i in range(3, GAMES_SITES * 40, 40)]
    (folder / "games.domains").write_text("\n".join(games) + "\n", encoding="utf-8")
    social = [site_of(i) for i in range(5, SOCIAL_SITES * 10, 10)]
    (folder / "social.domains").write_text("\n".join(social) + "\n", encoding="utf-8")
    block = "".join(f"  - bad{i}.example\n" for i in range(500))
    (folder / "local" / "block.yaml").write_text(
        f"category: extremism\nentries:\n{block}", encoding="utf-8"
    )
    # www.site43.example is a games site (43 = 3 + 40) the school allowed for a club.
    allow = "entries:\n  - www.site43.example\n  - {domain: site2000.example, note: x}\n"
    (folder / "local" / "allow.yaml").write_text(allow, encoding="utf-8")
    return folder / "policy.yaml"


class Traffic:
    """The generated week, written as the gateway's writer would have."""

    def __init__(self, args: argparse.Namespace, policy: Policy, now: datetime) -> None:
        self.args = args
        self.policy = policy
        self.now = now.replace(second=0, microsecond=0)
        self.rng = random.Random(15)
        hosts = [f"{sub}.{site_of(i)}" for i in range(args.sites) for sub in SUBS]
        self.hosts = hosts
        weights = [1 / (rank + 1) ** 1.1 for rank in range(len(hosts))]
        self.rng.shuffle(weights)  # popularity does not follow site numbers...
        weights[hosts.index("www.site43.example")] = 0.002  # ...but these two are popular
        weights[hosts.index("www.site57.example")] = 0.004
        self.cumulative = list(_accumulate(weights))
        self.actions: dict[tuple[str, bool], str] = {}

    def identities(self) -> list[tuple[str, str]]:
        people = []
        for n in range(self.args.pupils):
            if n % 20 == 19:
                people.append((f"device:pc-{n:04d}", "pupils"))
            else:
                people.append((f"user:pupil.{n:04d}", "year13" if n % 7 == 0 else "pupils"))
        return people

    def minutes_of(self, day: datetime, weekend: bool) -> list[datetime]:
        rng = self.rng
        if weekend:
            evening = day + timedelta(hours=18)
            return sorted({evening + timedelta(minutes=rng.randrange(120)) for _ in range(20)})
        start = day.replace(tzinfo=LONDON).replace(hour=8, minute=30).astimezone(UTC)
        count = _poisson(rng, self.args.minutes)
        return sorted({start + timedelta(minutes=rng.randrange(420)) for _ in range(count)})

    def rows(self) -> Iterator[dict[str, Any]]:
        """Context rows, oldest day first; events are gathered on the way (`self.events`)."""
        self.events: Counter[tuple[str, str, str, str, str]] = Counter()
        rng, hosts, cumulative = self.rng, self.hosts, self.cumulative
        people = self.identities()
        start = (self.now - timedelta(days=7)).replace(hour=0, minute=0)
        for day_index in range(8):
            day = start + timedelta(days=day_index)
            weekend = day.astimezone(LONDON).weekday() >= 5
            for identity, group in people:
                if weekend and rng.random() > 0.03:
                    continue
                for minute in self.minutes_of(day, weekend):
                    if not (self.now - timedelta(days=7) <= minute < self.now):
                        continue
                    seen: Counter[str] = Counter()
                    for _ in range(max(1, _poisson(rng, self.args.hosts_per_minute))):
                        host = hosts[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
                        seen[host] += 1 + _geometric(rng, 0.59)
                    for host, requests in seen.items():
                        action = self.action(host, group, minute)
                        if action != "allow":
                            day_of = minute.date().isoformat()
                            self.events[identity, group, host, action, day_of] += requests
                        yield {"school": "school", "identity": identity, "minute": minute,
                               "host": host, "action": action, "requests": requests}  # fmt: skip

    def action(self, host: str, group: str, minute: datetime) -> str:
        local = minute.astimezone(LONDON)
        lessons = local.weekday() < 5 and 9 <= local.hour < 15
        key = (host + "|" + group, lessons)
        found = self.actions.get(key)
        if found is None:
            found = self.policy.decide(f"https://{host}/", group=group, when=minute).action.value
            self.actions[key] = found
        return found

    def event_rows(self) -> Iterator[dict[str, Any]]:
        for (identity, group, host, action, day), repeats in self.events.items():
            kind, _, name = identity.partition(":")
            when = datetime.fromisoformat(day).replace(hour=14, tzinfo=UTC)
            when = min(when, self.now - timedelta(minutes=1))
            yield {
                "event_id": uuid.uuid4().hex, "school": "school", "source": "gateway",
                "kind": "url", "action": action, "category": "games", "severity": 1,
                "rule": f"domain:{host}", "url": f"https://{host}/play/{self.rng.randrange(99)}",
                "host": host, "reason": "bench", "user": name if kind == "user" else None,
                "device": name if kind == "device" else None, "client_ip": None,
                "group": group, "policy_version": "bench", "first_seen": when,
                "last_seen": when, "repeat_count": repeats, "fold_key": uuid.uuid4().hex[:40],
                "status": "new",
            }  # fmt: skip


def generate(url: str, traffic: Traffic) -> tuple[int, int, float]:
    started = time.perf_counter()
    engine = make_engine(url)
    count = 0
    batch: list[dict[str, Any]] = []
    with engine.begin() as connection:
        for row in traffic.rows():
            batch.append(row)
            if len(batch) >= 50_000:
                connection.execute(insert(ContextEntry), batch)
                count, batch = count + len(batch), []
        if batch:
            connection.execute(insert(ContextEntry), batch)
            count += len(batch)
        events = list(traffic.event_rows())
        for start in range(0, len(events), 10_000):
            connection.execute(insert(Event), events[start : start + 10_000])
    engine.dispose()
    return count, len(events), time.perf_counter() - started


CHANGES = {
    "add a block entry (site57.example)": (
        "local/block.yaml",
        lambda text: text + "  - site57.example\n",
    ),
    "remove an allow entry (www.site43.example)": (
        "local/allow.yaml",
        lambda text: text.replace("  - www.site43.example\n", ""),
    ),
}


async def time_preview(console: Any, name: str, proposed: dict[str, str]) -> dict[str, Any]:
    lags: list[float] = []
    stop = asyncio.Event()

    async def sample() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append(time.perf_counter() - before - 0.01)

    sampler = asyncio.create_task(sample())
    started, cpu = time.perf_counter(), time.process_time()
    job = previews(console).get(await start_preview(console, proposed, "/save", {}))
    assert job is not None
    progress = []
    while not job.finished:
        progress.append(round(job.fraction, 2))
        await asyncio.sleep(0.25)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    stop.set()
    await sampler
    assert job.result is not None, (job.state, job.problems, job.notes)
    return {"name": name, "job": job, "wall": wall, "cpu": cpu, "lag": max(lags or [0.0]),
            "progress": sorted(set(progress))}  # fmt: skip


def report(figures: dict[str, Any]) -> None:
    job: PreviewJob = figures["job"]
    result = job.result
    assert result is not None
    rows = result.context_rows + result.events
    print(f"\n{figures['name']}")
    print(f"  rows scanned           {result.context_rows:>10,} context rows "
          f"({result.context_requests:,} requests) + {result.events:,} events")  # fmt: skip
    print(f"  distinct hosts/URLs    {result.looked_up:>10,} looked up in both policies' lists")
    print(f"  distinct cases decided {result.decisions:>10,} (listed ones, each by both policies)")
    print(f"  end to end             {figures['wall']:>10.2f} s (the job: {job.seconds:.2f} s, "
          f"of which reading and deciding {result.seconds:.2f} s)")  # fmt: skip
    print(f"  CPU of the preview     {job.cpu_seconds:>10.2f} s (the whole process: "
          f"{figures['cpu']:.2f} s)")  # fmt: skip
    print(f"  rows per second        {rows / result.seconds:>10,.0f} "
          f"({rows / figures['cpu']:,.0f} per CPU second of the process)")  # fmt: skip
    print(f"  longest event-loop lag {figures['lag'] * 1000:>10.1f} ms (sampled every 10 ms)")
    print(f"  progress seen          {figures['progress'][:12]}")
    for row in result.rows:
        print(f"  {row.heading}: {row.category} {row.before}->{row.after}: {row.hosts} hosts, "
              f"{row.requests:,} requests, {row.people:,} people")  # fmt: skip


def profile(console: Any, proposed: dict[str, str]) -> None:
    job = PreviewJob(proposed=proposed, save_url="/save", save_fields={}, schools=None)
    profiler = cProfile.Profile(time.thread_time)  # CPU time: the machine is shared
    profiler.enable()
    run_preview(job, console.store, console.policy_path, console.data_dir / "impact-preview")
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


async def main(args: argparse.Namespace) -> None:
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="impact-bench-"))
    try:
        policy_path = folder / "policy" / "policy.yaml"
        url = f"sqlite:///{folder / 'store.sqlite'}"
        if not (folder / "store.sqlite").exists():
            write_policy(policy_path.parent)
            upgrade(url)
            traffic = Traffic(args, Policy.load(policy_path), datetime.now(UTC))
            rows, events, seconds = generate(url, traffic)
            size = (folder / "store.sqlite").stat().st_size / 2**20
            print(f"generated {rows:,} context rows and {events:,} events for {args.pupils:,} "
                  f"pupils over 7 days in {seconds:.1f} s ({size:.0f} MiB of SQLite)")  # fmt: skip
        store = open_store(url)
        settings = ConsoleSettings(session_key="b" * 48)
        console = make_console(settings, store, policy_path, folder / "data")
        print(f"longest event-loop lag, nothing else running: {await idle_lag() * 1000:.1f} ms")
        print(f"longest event-loop lag, a pure-Python busy thread running (the GIL's share): "
              f"{await busy_lag() * 1000:.1f} ms")  # fmt: skip
        for name, (file, edit) in CHANGES.items():
            text = (policy_path.parent / file).read_text(encoding="utf-8")
            proposed = {file: edit(text)}
            if args.profile:
                profile(console, proposed)
                continue
            report(await time_preview(console, name, proposed))
        store.close()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)


async def busy_lag(seconds: float = 5.0) -> float:
    """The same with a thread spinning in Python: what any background thread costs the loop
    on this machine, for comparison with the preview's."""
    stop = threading.Event()

    def spin() -> None:
        n = 0
        while not stop.is_set():
            n += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        return await idle_lag(seconds)
    finally:
        stop.set()
        thread.join()


async def idle_lag(seconds: float = 3.0) -> float:
    """The longest lag of a 10 ms sleep with nothing else running: the machine's own noise."""
    worst, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        before = time.perf_counter()
        await asyncio.sleep(0.01)
        worst = max(worst, time.perf_counter() - before - 0.01)
    return worst


def _accumulate(weights: list[float]) -> Iterator[float]:
    total = 0.0
    for weight in weights:
        total += weight
        yield total


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method is slow for big means; a rounded normal is close enough past 30.
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _geometric(rng: random.Random, p: float) -> int:
    """Failures before the first success (mean (1 - p) / p)."""
    return int(math.log(1 - rng.random()) / math.log(1 - p)) if p < 1 else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pupils", type=int, default=1500)
    parser.add_argument("--minutes", type=float, default=40, help="active minutes a school day")
    parser.add_argument("--hosts-per-minute", type=float, default=3)
    parser.add_argument("--sites", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true", help="cProfile each preview instead")
    parser.add_argument("--keep", help="generate into (or reuse) this folder instead of a temp one")
    asyncio.run(main(parser.parse_args()))
