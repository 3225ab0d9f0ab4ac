"""What the machine and PostgreSQL were doing while bench/trust_bench.py's writers ran: CPU
seconds from /proc (the whole machine, and given processes such as the bench's PostgreSQL
backends), and the backends' states sampled from pg_stat_activity."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, text

TICKS = os.sysconf("SC_CLK_TCK")


def busy_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / TICKS, sum(fields[:8]) / TICKS


def process_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            parts = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(parts[11]) + int(parts[12])  # utime, stime
    return total / TICKS


def backend_pids(url: str, name: str) -> list[int]:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        pids = conn.scalars(
            text("SELECT pid FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"),
            {"n": name},
        ).all()
    engine.dispose()
    return [int(p) for p in pids]


def sample_backends(url: str, name: str, until: float) -> Counter[str]:
    """What the bench's backends were doing, sampled every 0.25 s until `until`: running,
    waiting (on what), in a transaction waiting for their writer, or idle."""
    seen: Counter[str] = Counter()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    query = text(
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = :n AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    with engine.connect() as conn:
        while time.monotonic() < until:
            for state, kind, wait in conn.execute(query, {"n": name}):
                if state == "active":
                    seen[f"running: waiting on {kind}:{wait}" if kind else "running: on CPU"] += 1
                elif state == "idle in transaction":
                    seen["in a transaction, waiting for its writer (ClientRead)"] += 1
                else:
                    seen[f"{state}: no transaction (the writer waiting for events)"] += 1
            time.sleep(0.25)
    engine.dispose()
    return seen
