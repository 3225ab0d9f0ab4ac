"""When to poll a feed next: the interval with jitter, and capped exponential back-off on errors.

- After a good poll (or a 304): `interval` +/- `jitter` (a fraction), so a hundred feeds set up
  at the same minute drift apart instead of arriving at a provider together.
- After a failure: `interval * 2**(failures-1)`, at most `max_backoff`, with the same jitter.
  A feed is never given up: it is retried at least every `max_backoff` for as long as it fails,
  and the digest lists it as failing.
- A server's Retry-After (429/503) is honoured when it asks for longer than the back-off, up to
  `max_backoff` (a server asking for a year still gets a daily try).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def jittered(seconds: float, jitter: float, rng: random.Random | None = None) -> float:
    spread = (rng or random).uniform(-jitter, jitter) if jitter > 0 else 0.0
    return max(1.0, seconds * (1.0 + spread))


def next_poll_after_success(
    now: datetime, interval: float, jitter: float, rng: random.Random | None = None
) -> datetime:
    return now + timedelta(seconds=jittered(interval, jitter, rng))


def backoff_seconds(failures: int, interval: float, max_backoff: float) -> float:
    """The un-jittered delay after `failures` consecutive failures (1 = the first)."""
    exponent = min(max(failures, 1) - 1, 32)  # 2**32 intervals is past any cap
    return min(max_backoff, interval * (2**exponent))


def next_poll_after_failure(
    now: datetime,
    failures: int,
    interval: float,
    max_backoff: float,
    jitter: float,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime:
    delay = jittered(backoff_seconds(failures, interval, max_backoff), jitter, rng)
    delay = min(delay, max_backoff)
    if retry_after is not None and retry_after > delay:
        delay = min(retry_after, max_backoff)
    return now + timedelta(seconds=delay)
