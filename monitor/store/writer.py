"""`EventWriter`: the gateway and the watcher hand events over here without ever waiting.

    writer = EventWriter(database_url, spool_dir="var/spool", schools=config.schools())
    writer.start()
    writer.submit(event)          # from any thread or the event loop: never blocks, never raises
    writer.flush(timeout=5)       # everything submitted so far is in the database or the spool
    writer.close(timeout=10)      # flush, replay what it can, stop (the daemon's SIGTERM path)
    writer.stats; writer.call(job)  # WriterStats for metrics; job() on the writer thread
    writer.note_request(started, identity, host, action)  # the host-only context log

`submit()` only puts the event on a thread-safe queue (a C call). One writer thread takes up to
`batch_size` at a time, makes safe rows (`monitor.store.rows`) and stores each batch in one
transaction (`monitor.store.folding`: repeats folded, exactly-once on event ids).

When the database cannot be reached (or refuses for a reason a retry may cure) the batch and every
later one go to the spool (`monitor.store.spool`, fsync per batch), in order; every
`retry_interval` seconds the writer replays it, oldest first. A row refused for good is kept in
the spool's `rejected.jsonl` (`stats.errors`). If the spool cannot be written either (disk full),
that is logged at CRITICAL, counted (`stats.spool_errors`) and the rows held in memory (up to
`max_held`); beyond that the oldest are dropped, loudly (`stats.dropped`). Context visits are
never spooled: while the database is away they are dropped and counted. Rows are stored under
their school (`monitor.store.rows.event_row`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from monitor.events import FlaggedEvent
from monitor.schools import Schools
from monitor.store.contextlog import ContextLog
from monitor.store.database import make_engine
from monitor.store.folding import store_rows
from monitor.store.rows import ONE_SCHOOL, event_row, row_from_json, row_to_json
from monitor.store.spool import Spool
from monitor.store.writerstats import WriterStats

log = logging.getLogger(__name__)

DEFAULT_FOLD_WINDOW = timedelta(minutes=10)

# Errors a later retry may cure: the server is away, the file is locked, the schema is missing.
TRANSIENT = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.ProgrammingError, sa_exc.InternalError,
    sa_exc.DisconnectionError, sa_exc.TimeoutError, ConnectionError,
)  # fmt: skip


class _Flush:
    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class _Job:
    """Other work for the writer thread (`EventWriter.call`), run in turn with the batches."""

    __slots__ = ("future", "job")

    def __init__(self, job: Callable[[], Any]) -> None:
        self.job = job
        self.future: Future[Any] = Future()

    def run(self) -> None:
        if not self.future.set_running_or_notify_cancel():
            return
        try:
            self.future.set_result(self.job())
        except BaseException as exc:  # handed to the caller, who raises it
            self.future.set_exception(exc)


_STOP = object()
_NOT_EVENTS = (_Flush, _Job)  # what else the queue carries
T = TypeVar("T")


# The writer writes at most one batch of events a second (`_take`). A school's gateway makes a
# few events a second; each in a transaction of its own (a 50 ms wait for company) cost the
# writer thread 0.16 ms of CPU per proxied request in bench/gateway_bench.py, one batch a second
# 0.06-0.08 ms. An event after a quiet spell is still written at once; one close behind another
# waits at most a second, well inside what anyone waits on: the instant alerter polls every
# 1-30 s, and a pupil reads the block page before asking for a review of its reference. A
# flush, a marker or shutting down writes at once.
LINGER = 1.0


class EventWriter:
    """One writer thread between many producers and the store (see the module docstring)."""

    def __init__(
        self,
        database_url: str,
        *,
        spool_dir: str,
        fold_window: timedelta = DEFAULT_FOLD_WINDOW,
        batch_size: int = 500,
        retry_interval: float = 2.0,
        max_held: int = 1_000_000,
        engine: Engine | None = None,
        schools: Schools | None = None,
        linger: float = LINGER,
    ) -> None:
        self.database_url, self.schools = database_url, schools or ONE_SCHOOL
        self.linger = linger
        self._last_batch = -linger  # when events were last taken: none yet, so the first goes
        self.fold_window = fold_window
        self.batch_size = batch_size
        self.retry_interval = retry_interval
        self.max_held = max_held
        self._engine = engine
        self._owns_engine = engine is None
        self._spool = Spool(spool_dir)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._held: deque[dict[str, Any]] = deque()
        self._thread: threading.Thread | None = None
        self._database_up = True
        self._next_retry = 0.0
        self._submitted = self._written = self._folded = self._duplicates = 0
        self._spooled = self._replayed = self._errors = self._spool_errors = self._dropped = 0
        self.context = ContextLog(self.schools.own)

    # -- the producers' side

    def start(self) -> None:
        if self._thread is not None:
            return
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        self._database_up = not self._spool  # a spool left from last time: replay it first
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self._thread.start()

    def submit(self, event: FlaggedEvent) -> None:
        """Hand an event over. Never blocks on the database and never raises."""
        try:
            self._queue.put(event)
            self._submitted += 1  # a racy counter is fine for metrics
        except Exception:  # pragma: no cover - SimpleQueue.put does not fail short of MemoryError
            log.exception("could not queue a flagged event")

    def note_request(self, started: float, identity: str, host: str, action: str) -> None:
        """Note one request for the host-only context log (`started` in seconds since the
        epoch); as `submit`, never blocks or raises. Counted on the caller's thread
        (`ContextLog.note_request`), not queued: every request has one."""
        self.context.note_request(started, identity, host, action)

    def call(self, job: Callable[[], T]) -> Future[T]:
        """Run `job()` on the writer thread, after the events submitted before it, so that a
        process keeps one writer thread per database (`monitor.store.runner.Store`)."""
        work = _Job(job)
        if self._thread is None or not self._thread.is_alive():
            work.future.set_exception(RuntimeError("the event writer is not running"))
        else:
            self._queue.put(work)
        return work.future

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until everything submitted before this call is in the database or the spool."""
        if self._thread is None or not self._thread.is_alive():
            return self._queue.empty()
        marker = _Flush()
        self._queue.put(marker)
        return marker.done.wait(timeout)

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush, replay what the database will take, and stop the writer thread."""
        if self._thread is None:
            return True
        flushed = self.flush(timeout)
        self._queue.put(_STOP)
        self._thread.join(timeout)
        stopped = not self._thread.is_alive()
        if stopped:
            self._thread = None
            self._refuse_waiting_jobs()
            if self._owns_engine and self._engine is not None:
                self._engine.dispose()
                self._engine = None
        return flushed and stopped

    def _refuse_waiting_jobs(self) -> None:
        """Jobs queued behind the stop marker never run: their callers hear so."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Job):
                item.future.set_exception(RuntimeError("the event writer has stopped"))

    @property
    def stats(self) -> WriterStats:
        return WriterStats(
            queue_depth=self._queue.qsize(),
            spool_records=self._spool.pending_records,
            spool_bytes=self._spool.pending_bytes,
            held=len(self._held),
            submitted=self._submitted,
            written=self._written,
            folded=self._folded,
            duplicates=self._duplicates,
            spooled=self._spooled,
            replayed=self._replayed,
            errors=self._errors,
            spool_errors=self._spool_errors,
            dropped=self._dropped,
            database_up=self._database_up,
            context_written=self.context.written,
            context_dropped=self.context.dropped,
        )

    # -- the writer thread

    def _run(self) -> None:
        while True:
            try:
                if not self._cycle():
                    return
            except Exception:  # a bug must not kill the only writer
                log.exception("event writer: unexpected error; carrying on")
                time.sleep(0.1)

    def _cycle(self) -> bool:
        """One batch; False once told to stop."""
        items = self._take()
        flushes = [item for item in items if isinstance(item, _Flush)]
        jobs = [item for item in items if isinstance(item, _Job)]
        stopping = any(item is _STOP for item in items)
        events = [i for i in items if i is not _STOP and not isinstance(i, _NOT_EVENTS)]
        if events:
            self._last_batch = time.monotonic()
            self._deliver(self._rows(events))
        # Optional context, written every few seconds; dropped (not spooled) with no database.
        engine = None if self._spool or self._held else self._engine
        self.context.write_due(engine, force=bool(flushes) or stopping)
        for job in jobs:
            job.run()
        if (self._spool or self._held) and (
            flushes or stopping or time.monotonic() >= self._next_retry
        ):
            self._replay()
        for marker in flushes:
            marker.done.set()
        return not stopping

    def _take(self) -> list[Any]:
        timeout = self.retry_interval if (self._spool or self._held) else 1.0
        try:
            items = [self._queue.get(timeout=timeout)]
        except queue.Empty:
            return []
        # At most one batch of events per `linger`: an event after a quiet spell is written at
        # once, and one close behind the last batch waits for others to share its transaction
        # (one event a transaction costs ~10x a batch's per event: trust_bench). A job or a
        # flush marker alone does not count as a batch.
        deadline = max(time.monotonic(), self._last_batch + self.linger)
        while len(items) < self.batch_size:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            items.append(item)
            if item is _STOP or isinstance(item, _Flush | _Job):
                break  # a marker or a job: act on it before taking more
        return items

    def _rows(self, events: Sequence[FlaggedEvent]) -> list[dict[str, Any]]:
        rows = []
        for event in events:
            try:
                rows.append(event_row(event, self.schools))
            except Exception as exc:  # something that is not quite a FlaggedEvent
                self._errors += 1
                log.error("event writer: cannot store %r: %s", event, exc)
                self._spool.reject({"repr": repr(event)[:8192]}, f"unreadable event: {exc}")
        return rows

    def _deliver(self, rows: list[dict[str, Any]]) -> None:
        if self._spool or self._held:
            self._to_spool(rows)  # keep order: behind what is already waiting
            return
        if not self._write(rows):
            self._to_spool(rows)

    def _write(self, rows: list[dict[str, Any]]) -> bool:
        """Store rows; False if the database is unreachable (nothing was stored)."""
        assert self._engine is not None
        try:
            with self._engine.begin() as connection:
                result = store_rows(connection, rows, self.fold_window)
        except TRANSIENT as exc:
            self._went_down(exc)
            return False
        except Exception as exc:  # a data error (or a bug): find the row, keep the others going
            if not isinstance(exc, sa_exc.IntegrityError | sa_exc.DataError):
                log.exception("event writer: unexpected error writing %d events", len(rows))
            if len(rows) == 1:
                self._reject(rows[0], exc)
                return True
            return all(self._write([row]) for row in rows)
        self._written += result.inserted
        self._folded += result.folded
        self._duplicates += result.duplicates
        if not self._database_up:
            log.warning("event writer: the database is reachable again")
        self._database_up = True
        return True

    def _went_down(self, exc: Exception) -> None:
        if self._database_up:
            log.error(
                "event writer: database unreachable, spooling events to %s until it is back: %s",
                self._spool.path,
                exc,
            )
        self._database_up = False
        self._next_retry = time.monotonic() + self.retry_interval

    def _reject(self, row: dict[str, Any], exc: Exception) -> None:
        self._errors += 1
        log.error(
            "event writer: the database refused event %s; kept in %s: %s",
            row.get("event_id"),
            self._spool.rejected_path,
            exc,
        )
        self._spool.reject(row_to_json(row), str(exc))

    def _to_spool(self, rows: list[dict[str, Any]]) -> None:
        if not self._held:
            try:
                self._spool.append([row_to_json(row) for row in rows])
                self._spooled += len(rows)
                return
            except OSError as exc:
                self._spool_errors += 1
                log.critical(
                    "event writer: CANNOT SPOOL %d events to %s (%s); holding them in memory "
                    "until the database is back. Free disk space now.",
                    len(rows),
                    self._spool.path,
                    exc,
                )
        else:
            self._spool_errors += 1
            log.critical("event writer: %d events held in memory, spool unusable", len(self._held))
        self._held.extend(rows)
        overflow = len(self._held) - self.max_held
        if overflow > 0:
            for _ in range(overflow):
                self._held.popleft()
            self._dropped += overflow
            log.critical("event writer: DROPPED %d events: no database and no spool", overflow)

    def _replay(self) -> None:
        """Write the spool, then the held rows, in order, until done or the database fails."""
        self._next_retry = time.monotonic() + self.retry_interval
        while self._spool:
            records, offset = self._spool.read(self.batch_size)
            if not records:
                break
            rows = []
            for record in records:
                try:
                    rows.append(row_from_json(record, self.schools.own))
                except (KeyError, TypeError, ValueError) as exc:
                    self._errors += 1
                    self._spool.reject(record, f"damaged spool record: {exc}")
            if rows and not self._write(rows):
                return
            self._spool.consume(offset, len(records))
            self._replayed += len(rows)
        while self._held:
            rows = [self._held[i] for i in range(min(self.batch_size, len(self._held)))]
            if not self._write(rows):
                return
            for _ in rows:
                self._held.popleft()
            self._replayed += len(rows)
        log.info("event writer: spool replayed; writing directly again")
