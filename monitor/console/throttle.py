"""Sign-in throttling that cannot be turned into a lockout switch.

`Backoff` delays, per key, every attempt after `free` failures: 2 s, then 4 s, 8 s and so on,
up to `cap`. During the delay an attempt is refused without checking the password. After it, a
correct password always works. The keys are (account, address), so guesses from one place
slow down only that place: the admin signing in from another computer is never held up by
someone guessing elsewhere. Behind one shared address the delay stays bounded by `cap`, and a
Prevent lead can lift it for an account at once (`unlock`, audited by the caller).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

FIRST_DELAY = 2.0


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class Backoff:
    def __init__(
        self, free: int, cap_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.free = max(0, free)
        self.cap = max(FIRST_DELAY, cap_s)
        self._clock = clock
        self._failures: dict[str, _Failures] = {}

    def _now(self) -> float:
        return self._clock()

    def wait(self, key: str) -> float:
        """Seconds before `key` may try again (0: now)."""
        failures = self._failures.get(key)
        if failures is None or failures.count < self.free:
            return 0.0
        delay = min(self.cap, FIRST_DELAY * 2 ** (failures.count - self.free))
        return max(0.0, failures.last + delay - self._now())

    def fail(self, key: str) -> None:
        if len(self._failures) > 50_000:  # a flood of distinct keys: forget the settled ones
            now = self._now()
            self._failures = {
                k: f for k, f in self._failures.items() if now - f.last < self.cap * 2
            }
        failures = self._failures.setdefault(key, _Failures())
        failures.count += 1
        failures.last = self._now()

    def succeed(self, key: str) -> None:
        self._failures.pop(key, None)

    def unlock(self, account: str) -> int:
        """Lift every delay on `account`, from any address; how many were lifted."""
        prefix = f"{account}|"
        lifted = [k for k in self._failures if k.startswith(prefix)]
        for key in lifted:
            del self._failures[key]
        return len(lifted)


def sign_in_key(account: str, address: str) -> str:
    return f"{account}|{address}"
