"""Keeping the policy current: reload on a timer and on SIGHUP, in a worker thread.

One `PolicyReloader` serves every part that decides with the policy: the gateway and the
brand-alert watcher. Compiling a policy (a million domains) takes seconds and reads files, so it
never runs on an event loop: `asyncio.to_thread` runs `LivePolicy.reload()`, and requests keep
being decided with the policy in force until the new one is swapped in whole. A change that does
not load keeps the previous policy, and is reported the same way for every part: each problem
logged with its file:line, `prevent_monitor_policy_reload_failures_total` counted, and the
problems kept in `status()` (the part's `/healthz`, and, when a status file is named, the file
the console's dashboard reads). It is an operational warning for IT staff, not a safeguarding
event: nothing goes to the Prevent lead's queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from filters.live import LivePolicy, ReloadResult
from monitor import metrics
from monitor.events import utcnow

log = logging.getLogger("prevent_monitor.policy")


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
        self._running: asyncio.Task[None] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._pending: asyncio.Task[ReloadResult] | None = None

    def start(self, interval: float) -> None:
        """On the running loop: the timer (if `interval` > 0) and the SIGHUP handler."""
        loop = asyncio.get_running_loop()
        if interval > 0:
            self._timer = loop.create_task(self._every(interval), name="policy-reload")
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            # Not in the main thread (tests), or not on Unix: the timer still works.
            loop.add_signal_handler(signal.SIGHUP, self.reload_soon)
        loop.run_in_executor(None, self.write_status)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)

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
        if result.failed or result.changed:
            self.write_status()
        return result

    def _refused(self, result: ReloadResult) -> None:
        self.failures += 1
        metrics.POLICY_RELOAD_FAILURES.inc()
        self.errors = [str(p) for p in result.problems]
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

    def status(self) -> dict[str, Any]:
        return {
            "policy_version": self.live.current.version,
            "last_reload": datetime.fromtimestamp(self.live.loaded_at, UTC).isoformat(),
            "errors": list(self.errors),
            "reload_failures": self.failures,
            "pid": os.getpid(),
            "written": utcnow().isoformat(),
            **self.status_extra(),
        }

    def write_status(self) -> None:
        """Atomically replace the status file (blocking: worker thread only)."""
        if not self.status_file:
            return
        path = Path(self.status_file)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=path.parent, prefix=".gateway-status", delete=False, encoding="utf-8"
            ) as handle:
                json.dump(self.status(), handle)
            os.replace(handle.name, path)
        except OSError as exc:
            log.warning("cannot write the status file %s: %s", path, exc)
