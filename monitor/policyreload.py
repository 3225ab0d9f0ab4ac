"""Keeping the policy current: reload on a timer and on SIGHUP, in a worker thread.

One `PolicyReloader` serves every part that decides with the policy: the gateway and the
brand-alert watcher. Compiling a policy (a million domains) takes seconds and reads files, so it
never runs on an event loop: `asyncio.to_thread` runs `LivePolicy.reload()`, and requests keep
being decided with the policy in force until the new one is swapped in whole. A change that does
not load keeps the previous policy, and is reported the same way for every part: each problem
logged with its file:line, `prevent_monitor_policy_reload_failures_total` counted, and the
problems kept in `status()` (the part's `/healthz`, and, when a status file is named, the file
the console's health page reads). It is an operational warning for IT staff, not a safeguarding
event: nothing goes to the Prevent lead's queue. The last refused change stays in the status
(`last_refused`, with its problems) after a good one replaces it, so IT staff can still see what
was wrong. While the part runs, the status file is rewritten every `STATUS_EVERY` seconds (its
`written` time), so the console can tell a part that is up from one that stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filters.live import LivePolicy, ReloadResult
from filters.policy import Policy
from monitor import metrics
from monitor.events import utcnow

log = logging.getLogger("prevent_monitor.policy")
STATUS_EVERY = 10.0  # seconds between status file writes: the console's "last heard"
WATCHER_STATUS_FILE = "watcher-status.json"  # in the data folder, beside the gateway's
MAX_PROBLEMS = 50  # of a refused change, kept in the status file


def log_held(policy: Policy) -> None:
    """Each line of a school's policy held to the trust's (looser than the trust allows): the
    trust's value is in force, and the school's IT staff should remove the line."""
    for problem in policy.spec.held:
        log.warning("held to the trust's policy: %s", problem)


class PolicyReloader:
    """Runs reloads off the event loop and reports what happened."""

    def __init__(
        self,
        live: LivePolicy,
        *,
        status_file: str = "",
        status_extra: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.live = live
        self.status_file = status_file
        self.status_extra = status_extra or dict
        self.failures = 0
        self.errors: list[str] = []
        self.last_refused: dict[str, Any] | None = None
        self._running: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._beat: asyncio.Task[None] | None = None
        self._stopped_at: str | None = None
        self._write_lock = threading.Lock()  # the heartbeat and a reload may write at once
        self._write_problem = ""
        self._pending: asyncio.Task[ReloadResult] | None = None

    def start(self, interval: float) -> None:
        """On the running loop: the timer (if `interval` > 0) and the SIGHUP handler."""
        loop = asyncio.get_running_loop()
        if interval > 0:
            self._timer = loop.create_task(self._every(interval), name="policy-reload")
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # Not in the main thread (tests), or not on Unix: the timer still works.
            loop.add_signal_handler(signal.SIGHUP, self.reload_soon)
        if self.status_file:
            self._beat = loop.create_task(self._heartbeat(STATUS_EVERY), name="status-file")

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._beat is not None:
            self._beat.cancel()
            self._beat = None
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

    def stopped(self) -> None:
        """The part is shutting down (after `stop()`): say so in the status file (blocking, and
        brief), so the console shows a part that was stopped, not one that went quiet."""
        self._stopped_at = utcnow().isoformat()
        self.write_status()

    def reload_soon(self) -> None:
        """SIGHUP: reload now, even if no file's time stamp changed."""
        log.info("SIGHUP: reloading the policy")
        asyncio.get_running_loop().create_task(self.reload(force=True))

    async def reload(self, *, force: bool = False) -> ReloadResult:
        """One reload in a worker thread; a second caller waits for the one under way."""
        if self._pending is not None and not self._pending.done():
            return await asyncio.shield(self._pending)
        self._pending = asyncio.ensure_future(asyncio.to_thread(self.reload_now, force=force))
        return await self._pending

    def reload_now(self, *, force: bool = False) -> ReloadResult:
        """Blocking: call from a worker thread (or a test)."""
        result = self.live.reload(force=force)
        if result.failed:
            self._refused(result)
        elif result.changed:
            self.errors = []
            metrics.set_policy(result.version, self.live.loaded_at)
            log.info(
                "policy %s in force (loaded in %.2f s)", result.version, result.seconds
            )
            log_held(self.live.current)
        if result.failed or result.changed:
            self.write_status()
        return result

    def reload_every(self, seconds: float) -> None:
        """Blocking, for ever: look for changed files every `seconds`, as the thread of a
        process with no event loop (the Squid helper). A changed policy is loaded beside the
        one in force and swapped in whole; one that does not load is refused, its problems
        (file:line) logged, which for the helper is stderr and so Squid's cache.log."""
        while True:
            time.sleep(seconds)
            try:
                self.reload_now()  # a no-op unless a file changed
            except Exception:  # a failed look must not end the thread: look again later
                log.exception("cannot reload the policy")

    def _refused(self, result: ReloadResult) -> None:
        self.failures += 1
        metrics.POLICY_RELOAD_FAILURES.inc()
        self.errors = [str(p) for p in result.problems]
        self.last_refused = {
            "at": utcnow().isoformat(),
            "kept_version": result.version,
            "problems": self.errors[:MAX_PROBLEMS],
            "more_problems": max(0, len(self.errors) - MAX_PROBLEMS),
        }
        log.warning(
            "the policy change was refused; policy %s stays in force. Problems:",
            result.version,
        )
        for problem in result.problems:
            log.warning("  %s", problem)

    async def _every(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await self.reload()
            except Exception:  # a failed check must not end the timer
                log.exception("policy reload check failed")

    async def _heartbeat(self, every: float) -> None:
        while True:
            try:
                await asyncio.to_thread(self.write_status)
            except Exception:  # a status the console cannot read must not stop the part
                log.exception("cannot write the status file")
            await asyncio.sleep(every)

    def status(self) -> dict[str, Any]:
        return {
            "policy_version": self.live.current.version,
            "last_reload": datetime.fromtimestamp(self.live.loaded_at, UTC).isoformat(),
            "errors": list(self.errors),
            "last_refused": self.last_refused,
            "reload_failures": self.failures,
            "pid": os.getpid(),
            "written": utcnow().isoformat(),
            "stopped": self._stopped_at,
            **self.status_extra(),
        }

    def write_status(self) -> None:
        """Atomically replace the status file (blocking: worker thread only)."""
        if not self.status_file:
            return
        path = Path(self.status_file)
        with self._write_lock:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with tempfile.NamedTemporaryFile(
                    "w", dir=path.parent, prefix=f".{path.stem}", delete=False, encoding="utf-8"
                ) as handle:
                    json.dump(self.status(), handle)
                os.replace(handle.name, path)
            except OSError as exc:
                problem = f"cannot write the status file {path}: {exc}"
                if problem != self._write_problem:  # once, not every few seconds
                    log.warning("%s", problem)
                self._write_problem = problem
                return
            self._write_problem = ""
