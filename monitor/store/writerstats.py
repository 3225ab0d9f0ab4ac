"""`WriterStats`: what an `EventWriter` reports for metrics, the status file and `/healthz`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class WriterStats:
    """A snapshot for metrics. Counters count events (not batches) since start."""

    queue_depth: int
    spool_records: int
    spool_bytes: int
    held: int  # in memory because neither the database nor the spool would take them
    submitted: int
    written: int  # new event rows
    folded: int  # repeats counted into an existing event
    duplicates: int  # replays of events already stored
    spooled: int
    replayed: int
    errors: int  # rows refused for good (kept in rejected.jsonl)
    spool_errors: int  # failed spool writes (disk full, ...)
    dropped: int
    database_up: bool
    context_written: int = 0  # context-log requests stored (folded per minute)
    context_dropped: int = 0  # context-log requests dropped (database away; never spooled)
