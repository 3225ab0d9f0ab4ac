"""The compiled policy the URL tester decides with: the files on disk, kept as the gateway keeps
them (`filters.live.LivePolicy`).

It is compiled on the tester's first use, not at start-up: a large list takes seconds and its
memory, and most consoles are opened for the queue. Each use after that checks the files' time
stamps (one stat() each) and reloads what changed. A change that does not load keeps the last
good policy, as the gateway does, so the tester answers with what the gateway has in force and
says which problems kept the change out. Loading and deciding run in a worker thread, one at a
time, never on the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from filters.live import LivePolicy
from filters.policy import Policy, PolicyError

if TYPE_CHECKING:
    from monitor.console.web import Console

T = TypeVar("T")
CACHE_KEY = "live-policy"


@dataclass(frozen=True, slots=True)
class InForce:
    """The policy to decide with (None when it has never loaded) and what kept the files on
    disk out of force, each problem with its file:line."""

    policy: Policy | None
    problems: tuple[str, ...] = ()


class ConsolePolicy:
    """One per console (kept in `console.cache`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.live: LivePolicy | None = None
        self.problems: tuple[str, ...] = ()
        self._lock = asyncio.Lock()

    async def use(self, work: Callable[[InForce], T]) -> T:
        """Bring the policy up to date and run `work` with it, in a worker thread."""
        async with self._lock:
            return await asyncio.to_thread(lambda: work(self._refresh()))

    def _refresh(self) -> InForce:
        if self.live is None:
            try:
                self.live = LivePolicy.load(self.path)
            except PolicyError as exc:
                return InForce(None, tuple(str(p) for p in exc.problems))
            except OSError as exc:
                return InForce(None, (f"{self.path}: {exc.strerror or exc}",))
            return InForce(self.live.current)
        result = self.live.reload()
        if result.failed:
            self.problems = tuple(str(p) for p in result.problems)
        elif result.seconds:  # the files were read again and loaded: nothing keeps them out
            self.problems = ()
        return InForce(self.live.current, self.problems)


def console_policy(console: Console) -> ConsolePolicy:
    cached = console.cache.get(CACHE_KEY)
    if cached is None or cached[1].path != console.policy_path:
        cached = (0.0, ConsolePolicy(console.policy_path))
        console.cache[CACHE_KEY] = cached
    holder: ConsolePolicy = cached[1]
    return holder
