"""`LivePolicy`: the policy in force, swapped whole when its files change on disk.

Readers take `live.current` once per request and use that object throughout, so a reload never
pauses a decision and no request sees half a policy. A reload that fails keeps the previous
policy and keeps the problems (file:line) for the log, the console and a warning event.
The caller decides where reloading runs (the gateway does it in a worker thread).
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from filters.lists import ListProblem
from filters.policy import Policy, PolicyError


@dataclass(frozen=True, slots=True)
class ReloadResult:
    changed: bool  # a new policy is now in force
    version: str  # the version in force after the attempt
    problems: tuple[ListProblem, ...] = ()
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return bool(self.problems)


@dataclass(slots=True)
class LivePolicy:
    path: Path
    current: Policy
    loaded_at: float = field(default_factory=time.time)
    _stamps: dict[Path, tuple[int, int] | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(cls, path: str | Path) -> LivePolicy:
        """The first load: a policy that does not load stops start-up (PolicyError)."""
        with _quiet_collector():
            policy = Policy.load(path)
        live = cls(Path(path), policy)
        live._stamps = _stamps(policy)
        return live

    def files_changed(self) -> bool:
        """Cheap: one stat() per file. Also true when a file appears or disappears."""
        return _stamps(self.current) != self._stamps

    def reload(self, *, force: bool = False) -> ReloadResult:
        """Rebuild from disk if anything changed; keep the old policy if the new one is bad."""
        with self._lock:  # one reload at a time; decisions never take this lock
            if not force and not self.files_changed():
                return ReloadResult(False, self.current.version)
            started = time.perf_counter()
            stamps = _stamps(self.current)
            try:
                with _quiet_collector():
                    policy = Policy.load(self.path)
            except PolicyError as exc:
                # Remember the stamps so a bad file is reported once, not on every poll.
                self._stamps = stamps
                return ReloadResult(
                    False, self.current.version, tuple(exc.problems), time.perf_counter() - started
                )
            changed = policy.version != self.current.version
            old, self.current = self.current, policy
            self._stamps = _stamps(policy)
            self.loaded_at = time.time()
            result = ReloadResult(changed, policy.version, (), time.perf_counter() - started)
        _retire(old)
        return result


def _stamps(policy: Policy) -> dict[Path, tuple[int, int] | None]:
    stamps: dict[Path, tuple[int, int] | None] = {}
    for path in [policy.spec.path, *policy.spec.files, *(s.path for s in policy.spec.lists)]:
        try:
            stat = path.stat()
        except OSError:
            stamps[path] = None
            continue
        stamps[path] = (stat.st_mtime_ns, stat.st_size)
    return stamps


# A decision takes microseconds; one that took the old policy just before the swap has long
# finished after this many seconds, so its tables can go.
RETIRE_AFTER = 1.0


def _retire(old: Policy) -> None:
    """Free a replaced policy without a long pause for the decisions on other threads."""
    time.sleep(RETIRE_AFTER)
    old.release(lambda: time.sleep(0))


@contextmanager
def _quiet_collector() -> Iterator[None]:
    """Build a policy without the cyclic garbage collector running, then freeze what exists.

    Building a million-entry policy allocates millions of objects, which triggers full
    collections that walk every live container while holding the interpreter: a 100 ms pause for
    the decisions on other threads. The policy has no reference cycles (reference counting frees
    an old one), so the collector is held off while it is built and the result moved out of its
    way (gc.freeze) afterwards.
    """
    with collector_held():
        yield
    gc.freeze()


@contextmanager
def collector_held() -> Iterator[None]:
    """Run a block without the cyclic garbage collector (as it was, afterwards): for work that
    allocates millions of acyclic objects, whose full collections would pause other threads."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
