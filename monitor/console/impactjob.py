"""Impact previews in the background: the jobs a console keeps and the one thread that runs them.

A preview reads a week of a school's requests and decides each distinct case twice, which
takes seconds, so it never runs on the event loop or in a request. `PreviewJobs.submit()`
queues a `PreviewJob`; one daemon thread per console runs the jobs one at a time, in the
context (so the school scope, `monitor.store.scope`) of the request that started it. Pages
poll `PreviewJobs.get()` for its state and fraction done.

One at a time is deliberate: a preview is CPU-bound Python, and two at once would each take
twice as long while slowing the console more. Others wait in the queue (their page says so).
Jobs are kept in memory only, for `KEEP_SECONDS` after they were made and at most `MAX_JOBS`
of them; a job that expires while it runs stops at its next batch. A restart forgets them all,
which costs a preview, never a change: nothing is saved until the save form is posted.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from filters.live import collector_held
from monitor.console.impacttally import ImpactResult

log = logging.getLogger(__name__)

KEEP_SECONDS = 30 * 60
MAX_JOBS = 16  # kept at once, finished or not
MAX_WAITING = 4  # queued behind the running one

QUEUED, LOADING, COUNTING, READING = "queued", "loading", "counting", "reading"
DONE, PROBLEMS, FAILED = "done", "problems", "failed"
FINISHED = frozenset({DONE, PROBLEMS, FAILED})


@dataclass(eq=False)
class PreviewJob:
    """One preview: what was proposed, where saving goes, and how far it has got."""

    proposed: dict[str, str]  # emptied once the proposed policy is loaded
    save_url: str
    save_fields: dict[str, str]
    schools: frozenset[str] | None  # the scope it ran under: who may look at it
    id: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    created: float = field(default_factory=time.monotonic)
    state: str = QUEUED
    done: int = 0  # rows read so far
    total: int = 0  # rows to read (known once counted)
    seconds: float = 0.0  # from start to finish, once finished
    cpu_seconds: float = 0.0  # of the preview thread (a busy machine inflates `seconds`)
    result: ImpactResult | None = None
    problems: tuple[str, ...] = ()  # the proposed policy's, file:line (nothing can be saved)
    notes: tuple[str, ...] = ()  # what the preview could not do, in plain words
    cancelled: bool = False

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def fraction(self) -> float:
        if self.finished:
            return 1.0
        if not self.total:
            return 0.0
        return min(1.0, self.done / self.total)

    @property
    def savable(self) -> bool:
        """The save form is offered once the proposed policy has loaded (or the preview
        itself failed: it is advice, and a busy console must not stop a fix going live)."""
        return self.state in (DONE, FAILED)


class PreviewJobs:
    """A console's previews (see the module docstring). `run(job)` does the work."""

    def __init__(self, run: Callable[[PreviewJob], None]) -> None:
        self._run = run
        self._jobs: dict[str, PreviewJob] = {}
        self._waiting: queue.Queue[tuple[PreviewJob, contextvars.Context]] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, job: PreviewJob) -> PreviewJob:
        """Queue `job` to run in a copy of the caller's context; a job refused (too many at
        once) is kept as failed, so its page can say why."""
        with self._lock:
            self._expire()
            if len(self._jobs) >= MAX_JOBS:
                self._drop_oldest_finished()
            busy = len(self._jobs) >= MAX_JOBS or self._waiting.qsize() >= MAX_WAITING
            self._jobs[job.id] = job
            if busy:
                _refuse(job)
                return job
            self._waiting.put((job, contextvars.copy_context()))
            self._start_thread()
        return job

    def get(self, job_id: str) -> PreviewJob | None:
        with self._lock:
            self._expire()
            return self._jobs.get(job_id)

    def __len__(self) -> int:
        return len(self._jobs)

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._work, name="impact-preview", daemon=True
            )  # a daemon: a preview under way never holds up the console's shutdown
            self._thread.start()

    def _work(self) -> None:
        while True:
            job, context = self._waiting.get()
            if job.cancelled:
                continue
            started, cpu = time.monotonic(), time.thread_time()
            try:
                # Millions of short-lived acyclic rows: full collections paused the console's
                # event loop for up to 0.5 s (profiled), so the collector waits until the end.
                with collector_held():
                    context.run(self._run, job)
            except Exception:
                log.exception("impact preview %s failed", job.id[:6])
                job.state = FAILED
                job.notes = (*job.notes, "The preview failed (the console's log says why).")
            job.seconds = time.monotonic() - started
            job.cpu_seconds = time.thread_time() - cpu
            job.proposed = {}

    def _expire(self) -> None:
        now = time.monotonic()
        for job_id, job in list(self._jobs.items()):
            if now - job.created > KEEP_SECONDS:
                job.cancelled = True
                del self._jobs[job_id]

    def _drop_oldest_finished(self) -> None:
        finished = [job for job in self._jobs.values() if job.finished]
        if finished:
            del self._jobs[min(finished, key=lambda job: job.created).id]


def _refuse(job: PreviewJob) -> None:
    job.state = FAILED
    job.proposed = {}
    job.notes = (
        "The console is running other previews: this one was not run. Try again in a minute, "
        "or save without a preview.",
    )
