"""Pages already scored: the same bytes, of the same type, under the same policy, score the same
whoever reads them and wherever they are served, so the gateway keeps the score.

A class of thirty loading the page their teacher linked is scored once, not thirty times, and
so is one article under many addresses (tracking parameters, mirrors, a CDN's hosts). What the
score means for the reader (their group's thresholds, an allowlist entry or an exemption that
lifts the page to study, the time) is decided afresh on every request by
`Policy.page_decision`, which costs a few µs; scoring an 8 KB page costs a few hundred
(docs/benchmarks.md).

Keyed by (policy version, media type, charset, BLAKE2b of the body). The body's own digest is
the key, not the server's ETag or Last-Modified: those are the server's word, and a site could
send a harmless page and then extremist text under the same ETag. Bounded (least recently used
goes first), and a policy reload starts afresh because the version is in the key. Nothing of
the page is kept but its score and the phrases that matched (never the body).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from filters.weighted import PageScore

MAX_PAGES = 8192  # ~2 MB of keys and scores at most

Key = tuple[str, str, str | None, bytes]


class ScoredPages:
    def __init__(self, max_pages: int = MAX_PAGES) -> None:
        self._max = max_pages
        self._pages: OrderedDict[Key, PageScore] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(version: str, media: str, charset: str | None, body: bytes) -> Key:
        return (version, media, charset, hashlib.blake2b(body, digest_size=16).digest())

    def get(self, key: Key) -> PageScore | None:
        score = self._pages.get(key)
        if score is None:
            self.misses += 1
            return None
        self._pages.move_to_end(key)
        self.hits += 1
        return score

    def put(self, key: Key, score: PageScore) -> None:
        self._pages[key] = score
        self._pages.move_to_end(key)
        while len(self._pages) > self._max:
            self._pages.popitem(last=False)
