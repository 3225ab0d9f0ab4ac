"""A trust's gateway traffic for bench/trust_bench.py: fictional pupils of one school, and the
writer process that submits it to a real `EventWriter` at a paced rate.

`SchoolTraffic` makes the flagged events one school's gateway would: a few hundred pupils (user
names that repeat across schools, as `pupil.0042` may be a child at each of them), some known
only by a device, fictional listed sites and searches. About 60 % of events repeat a recent
(pupil, rule, host), so they fold into an open event; the rest are new. Searches carry their
terms, a different one on most repeats, so folded events keep several.

`writer_process` is one school's gateway: its own process, its own `EventWriter` (the school's
id as `Schools.own`, all the trust's schools known) and its own connection to PostgreSQL.
"""

from __future__ import annotations

import random
import resource
import tempfile
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from filters.decision import Action, Kind
from monitor.events import FlaggedEvent, Source, utcnow
from monitor.schools import Schools
from monitor.store.database import make_engine
from monitor.store.writer import EventWriter

CATEGORIES = ("extremism", "extremism", "hate", "weapons", "self-harm", "proxy", "adult")
SEVERITY = {"extremism": 4, "hate": 3, "weapons": 3, "self-harm": 4, "proxy": 2, "adult": 2}
WORDS = (
    "zorblax", "front", "manifesto", "recruit", "join", "banner", "rally", "march", "uniform",
    "meaning", "history", "essay", "symbol", "flag", "leader", "video", "forum", "chat",
)  # fmt: skip
SITES = 400  # listed fictional sites (domain:siteNNN.test)
PHRASES = 60  # listed fictional search phrases
ENGINES = ("www.google.com", "www.bing.com", "duckduckgo.com")


def school_ids(count: int) -> list[str]:
    return [f"s{i:02d}" for i in range(1, count + 1)]


class SchoolTraffic:
    """Flagged events of one school's gateway (see the module docstring)."""

    def __init__(self, school: str, seed: int, pupils: int = 300, repeats: float = 0.6) -> None:
        self.school = school
        self.number = int(school[1:]) if school[1:].isdigit() else 0
        self.rng = random.Random(seed)
        self.pupils = pupils
        self.repeats = repeats
        self.recent: deque[tuple[int, int, str]] = deque(maxlen=250)  # (pupil, target, host)

    def event(self, when: datetime | None = None) -> FlaggedEvent:
        rng = self.rng
        if self.recent and rng.random() < self.repeats:
            pupil, target, host = rng.choice(self.recent)
        else:
            # A few pupils account for much of it: 30 % of new events come from 20 of them.
            pupil = rng.randrange(20) if rng.random() < 0.3 else rng.randrange(self.pupils)
            pupil = (pupil * 7919 + self.number) % self.pupils
            if rng.random() < 0.25:
                target, host = -1 - rng.randrange(PHRASES), rng.choice(ENGINES)
            else:
                target = rng.randrange(SITES)
                host = f"www.site{target}.test"
            self.recent.append((pupil, target, host))
        return self._make(pupil, target, host, when or utcnow())

    def _make(self, pupil: int, target: int, host: str, when: datetime) -> FlaggedEvent:
        rng = self.rng
        known_by_device = pupil % 10 == 9  # a shared machine with no sign-in
        user = None if known_by_device else f"pupil.{pupil:04d}"
        common: dict[str, Any] = {
            "source": Source.GATEWAY, "user": user,
            "device": f"{self.school}-pc-{pupil % 120:03d}",
            "client_ip": f"10.{self.number}.{pupil // 250}.{pupil % 250 + 2}",
            "group": f"year{7 + pupil % 7}", "policy_version": "trust-bench", "when": when,
        }  # fmt: skip
        if target < 0:  # a search for a listed phrase
            phrase = f"{WORDS[-target % len(WORDS)]} {WORDS[(-target * 7) % len(WORDS)]}"
            terms = f"{phrase} {rng.choice(WORDS)}" if rng.random() < 0.7 else phrase
            category = CATEGORIES[-target % len(CATEGORIES)]
            return FlaggedEvent(
                kind=Kind.SEARCH, action=Action.FLAG if rng.random() < 0.7 else Action.BLOCK,
                category=category, severity=SEVERITY[category], rule=f"search:{phrase}",
                url=f"https://{host}/search?q={terms.replace(' ', '+')}", host=host,
                reason=f"the search matched the listed phrase {phrase!r}",
                rule_source=f"blocklists/trust-phrases.txt:{-target}", search_terms=terms,
                **common,
            )  # fmt: skip
        category = CATEGORIES[target % len(CATEGORIES)]
        return FlaggedEvent(
            kind=Kind.URL, action=Action.BLOCK if target % 5 else Action.STUDY,
            category=category, severity=SEVERITY[category], rule=f"domain:site{target}.test",
            url=f"http://{host}/page/{rng.randrange(40)}", host=host,
            reason="the site is on a listed domain", rule_source=f"blocklists/trust.txt:{target}",
            **common,
        )  # fmt: skip


class TimedWriter(EventWriter):
    """An `EventWriter` that notes when each event's transaction committed. `_write` returns
    after `engine.begin()` has committed the batch, so the time taken then, less the time the
    event was submitted, is the whole write latency: queue, batch building, the transaction.
    Each batch's time inside `_write` (store_rows and the commit) is noted too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.committed: dict[str, float] = {}
        self.batches: list[tuple[int, float]] = []  # (events, seconds in the transaction)

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        began = time.monotonic()
        stored = super()._write(rows)
        if stored:
            now = time.monotonic()
            self.batches.append((len(rows), now - began))
            for row in rows:
                self.committed.setdefault(row["event_id"], now)
        return stored


@dataclass
class WriterSpec:
    url: str
    school: str
    schools: list[str]
    rate: float  # events/s this gateway submits
    duration: float  # seconds
    seed: int
    pupils: int = 300
    linger: float | None = None  # seconds the writer waits for a batch; None: as shipped
    spool_root: str = field(default_factory=tempfile.gettempdir)


def writer_process(spec: WriterSpec, start_at: Any, barriers: Any, results: Any) -> None:
    """One school's gateway: connect, wait at barriers[0] (all connected) and barriers[1] (the
    driver has set `start_at`), submit paced events from `start_at.value`, flush, wait at
    barriers[2] (the driver reads the server's CPU), then report."""
    schools = Schools({s: f"School {s}" for s in spec.schools}, own=spec.school)
    engine = make_engine(spec.url)
    with engine.connect():  # connect before the clock starts, as a running gateway has
        pass
    writer = TimedWriter(
        spec.url,
        spool_dir=f"{spec.spool_root}/{spec.school}",
        schools=schools,
        engine=engine,
        **({} if spec.linger is None else {"linger": spec.linger}),
    )
    writer.start()
    traffic = SchoolTraffic(spec.school, spec.seed, spec.pupils)
    barriers[0].wait()
    barriers[1].wait()
    cpu0, main0 = _process_cpu(), time.thread_time()
    submitted, depth = _submit_paced(writer, traffic, start_at.value, spec)
    main_cpu = time.thread_time() - main0
    flushed = writer.flush(timeout=600)
    barriers[2].wait()
    results.put(_result(spec, writer, submitted, depth, flushed, start_at.value,
                        _process_cpu() - cpu0, main_cpu))  # fmt: skip
    writer.close(timeout=60)
    engine.dispose()


def _submit_paced(
    writer: EventWriter, traffic: SchoolTraffic, start: float, spec: WriterSpec
) -> tuple[dict[str, float], int]:
    """Submit events on an absolute schedule (a late process catches up, as a gateway's queue
    of flows would); the submit time of each id, and the deepest writer queue seen."""
    total = int(spec.rate * spec.duration)
    submitted: dict[str, float] = {}
    depth, next_sample, i = 0, start, 0
    while i < total:
        now = time.monotonic()
        due = start + i / spec.rate
        if due > now:
            time.sleep(due - now)
            now = time.monotonic()
        while i < total and start + i / spec.rate <= now:
            event = traffic.event()
            submitted[event.id] = time.monotonic()
            writer.submit(event)
            i += 1
        if now >= next_sample:
            depth = max(depth, writer.stats.queue_depth)
            next_sample = now + 0.1
    return submitted, depth


def _result(
    spec: WriterSpec, writer: TimedWriter, submitted: dict[str, float], depth: int,
    flushed: bool, start: float, cpu: float, main_cpu: float,
) -> dict[str, Any]:  # fmt: skip
    latencies = [  # (submitted, seconds from the start; latency, seconds)
        (t - start, writer.committed[i] - t) for i, t in submitted.items() if i in writer.committed
    ]
    per_second = Counter(int(t - start) for t in writer.committed.values())
    stats = writer.stats
    return {
        "school": spec.school, "submitted": len(submitted), "committed": len(writer.committed),
        "latencies": latencies, "per_second": dict(per_second), "max_depth": depth,
        "last_commit": max(writer.committed.values(), default=start) - start,
        "batches": writer.batches, "flushed": flushed, "cpu": cpu, "main_cpu": main_cpu,
        "written": stats.written, "folded": stats.folded, "duplicates": stats.duplicates,
        "spooled": stats.spooled, "spool_records": stats.spool_records,
        "spool_bytes": stats.spool_bytes, "errors": stats.errors, "dropped": stats.dropped,
        "held": stats.held, "stats_submitted": stats.submitted,
    }  # fmt: skip


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
