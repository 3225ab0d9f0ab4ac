"""Pages already scored: the same bytes at the same address, for the same policy and person,
score the same, so the gateway keeps the answer instead of scoring the page again.

Keyed by (policy version, URL, group, user, BLAKE2b of the body, the minute). The minute is
there because exemptions end and schedules turn: an answer is reused for a minute at most. The
body's own digest is the key, not the server's ETag or Last-Modified: those are the server's
word, and a site could send a harmless page and then extremist text under the same ETag.
Hashing 8 KB costs a few µs; scoring it costs ~185 µs (docs/benchmarks.md). Bounded (least
recently used goes first), and a policy reload starts afresh because the version is in the key.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from filters.decision import Decision

MAX_PAGES = 8192  # ~2 MB of keys and decisions at most

Key = tuple[str, str, str | None, str | None, bytes, int]


class ScoredPages:
    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._max = max_pages
        self._pages: OrderedDict[Key, Decision] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(version: str, url: str, group: str | None, user: str | None, body: bytes) -> Key:
        digest = hashlib.blake2b(body, digest_size=16).digest()
        return (version, url, group, user, digest, int(time.time() // 60))

    def get(self, key: Key) -> Decision | None:
        decision = self._pages.get(key)
        if decision is None:
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return decision

    def put(self, key: Key, decision: Decision) -> None:
        self._pages[key] = decision
        self._pages.move_to_end(key)
        while len(self._pages) > self._max:
            self._pages.popitem(last=False)
