"""Compiled matchers the policy runs on every request: domain suffixes, URL prefixes, RE2 sets.

Each matcher maps what it finds to a `ref`: a small integer the policy packs with the list the
entry came from and its line (`pack_ref`). Storing an int per entry, not an object, is what lets a
million-domain list load in seconds and fit in well under 300 MB.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from itertools import repeat

import re2

# A ref is (list index, line): 24 bits are enough for a 16-million-line file.
_LINE_BITS = 24
_LINE_MASK = (1 << _LINE_BITS) - 1

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def pack_ref(list_index: int, line: int) -> int:
    return (list_index << _LINE_BITS) | (line & _LINE_MASK)


def unpack_ref(ref: int) -> tuple[int, int]:
    return ref >> _LINE_BITS, ref & _LINE_MASK


MAX_DOMAIN = 253  # characters in a domain name (RFC 1035), dots included


def label_suffixes(host: str) -> tuple[str, ...]:
    """`www.bad.test` → `www.bad.test`, `bad.test`, `test`: label-aligned, so `bad.test` can never
    match `notbad.test` (the mistake mitmproxy's block_list makes).

    Only suffixes a list could hold (at most 253 characters): a hostile 80,000-character host then
    costs at most 127 lookups, not 40,000 ever-longer hashes.

    The last host's answer is kept: one decision walks the same host's suffixes through up to
    five tables (block and allow domains and URL prefixes), and a new host pays for each walk."""
    last = _last_suffixes
    if last[0] == host:
        return last[1]
    found: list[str] = []
    if len(host) > MAX_DOMAIN:
        start = host.find(".", len(host) - MAX_DOMAIN - 1)
    else:
        found.append(host)
        start = host.find(".")
    while start != -1:
        found.append(host[start + 1 :])
        start = host.find(".", start + 1)
    suffixes = tuple(found)
    _remember_suffixes((host, suffixes))
    return suffixes


# One (host, suffixes) pair, replaced whole: a thread reading it sees one pair or the other.
_last_suffixes: tuple[str, tuple[str, ...]] = ("", ("",))


def _remember_suffixes(pair: tuple[str, tuple[str, ...]]) -> None:
    global _last_suffixes
    _last_suffixes = pair


# The domain table is split into shards: growing one huge dict copies it all in one step
# (about 25 ms at a million entries), which would stall every decision while a reload builds
# the next policy in a worker thread. Small shards grow in well under a millisecond.
_SHARDS = 64
_SHARD_MASK = _SHARDS - 1
# A shard is chosen by the hash's top bits: a dict places a key by the hash's low bits, so
# choosing by those would leave every shard's keys sharing 6 of them and colliding, and a
# missing name (most lookups) would probe a chain, each step a cache miss at a million entries.
_SHARD_SHIFT = 58


class DomainTable:
    """Domains and IP addresses; a domain covers its subdomains, an address only itself.

    A lookup probes only the suffixes of the host with as many labels as some listed name has
    (`_depths`). A million-entry table is cold memory, each probe one or two cache misses, and
    most lists hold names of two or three labels: `www.news.example.org` then costs the probes
    of `example.org` and `news.example.org` only, not of its whole name and of `org` too."""

    __slots__ = ("_count", "_depths", "_shards")

    def __init__(self) -> None:
        self._shards: tuple[dict[str, int | tuple[int, ...]], ...] = tuple(
            {} for _ in range(_SHARDS)
        )
        self._count = 0
        # The label counts of the listed names, most first.
        self._depths: tuple[int, ...] = ()

    def __len__(self) -> int:
        return self._count

    def add(self, domain: str, ref: int) -> None:
        self.add_lines([domain], [ref & _LINE_MASK], ref & ~_LINE_MASK)

    def add_lines(self, domains: list[str], lines: list[int], base: int) -> None:
        """Add each domain with the ref `base | line` (`pack_ref`): a list's million lines in
        one loop, without a call per line."""
        shards = self._shards
        added = 0
        for domain, line in zip(domains, lines, strict=True):
            shard = shards[hash(domain) >> _SHARD_SHIFT & _SHARD_MASK]
            ref = base | line
            have = shard.get(domain)
            if have is None:
                shard[domain] = ref
                added += 1
            elif isinstance(have, int):
                shard[domain] = (have, ref)
            else:
                shard[domain] = (*have, ref)
        self._count += added
        depths = {dots + 1 for dots in set(map(str.count, domains, repeat(".")))}
        if not depths.issubset(self._depths):
            self._depths = tuple(sorted(depths.union(self._depths), reverse=True))

    def names(self) -> Iterator[str]:
        """Every domain and address in the table."""
        for shard in self._shards:
            yield from shard

    def release(self, pause: Callable[[], None]) -> None:
        """Empty the table shard by shard, calling `pause` between them. Freeing a million
        entries at once would hold the interpreter for a quarter of a second."""
        for shard in self._shards:
            shard.clear()
            pause()
        self._count = 0
        self._depths = ()

    def lookup(self, host: str, *, exact: bool = False) -> list[tuple[str, int]]:
        """Every (listed domain, ref) that covers `host`, most specific first."""
        found: list[tuple[str, int]] = []
        shards = self._shards
        if exact:
            candidates: Sequence[str] = (host,)
        else:
            # The last suffix is one label, the one before it two, and so on (a host too long
            # to be listed starts its suffixes further in, but ends them the same way).
            suffixes = label_suffixes(host)
            count = len(suffixes)
            candidates = [suffixes[count - depth] for depth in self._depths if depth <= count]
        for suffix in candidates:
            have = shards[hash(suffix) >> _SHARD_SHIFT & _SHARD_MASK].get(suffix)
            if have is None:
                continue
            if isinstance(have, int):
                found.append((suffix, have))
            else:
                found.extend((suffix, ref) for ref in have)
        return found


class UrlPrefixTable:
    """squidGuard-style `host/path` prefixes, indexed by host so a request only looks at the
    prefixes of its own site. A prefix matches at a path-segment boundary: `bad.test/a` matches
    `bad.test/a`, `bad.test/a/b` and `bad.test/a?x`, not `bad.test/ab`."""

    __slots__ = ("_by_host",)

    def __init__(self) -> None:
        self._by_host: dict[str, list[tuple[str, int]]] = {}

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_host.values())

    def add(self, prefix: str, ref: int) -> None:
        host, slash, rest = prefix.partition("/")
        self._by_host.setdefault(host, []).append((slash + rest, ref))

    def sites(self) -> Iterator[str]:
        """Every host that a prefix is listed for."""
        return iter(self._by_host)

    def lookup(self, host: str, rest: str) -> list[tuple[str, int]]:
        """`rest` is the lowercased `/path?query` part of the match key."""
        found: list[tuple[str, int]] = []
        by_host = self._by_host
        suffixes = label_suffixes(host) if by_host else ()
        if not suffixes or by_host.keys().isdisjoint(suffixes):
            return found  # one pass in C for the common case: no prefix listed for the site
        for suffix in suffixes:
            prefixes = by_host.get(suffix)
            if not prefixes:
                continue
            for prefix, ref in prefixes:
                if _prefix_matches(prefix, rest):
                    found.append((suffix + prefix, ref))
        return found


def _prefix_matches(prefix: str, rest: str) -> bool:
    if prefix in ("", "/"):
        return True
    if not rest.startswith(prefix):
        return False
    if len(rest) == len(prefix) or prefix.endswith(("/", "?", "=", "&")):
        return True
    return rest[len(prefix)] in "/?&#"


class RegexSet:
    """Many RE2 expressions searched in one linear-time pass."""

    __slots__ = ("_patterns", "_refs", "_set")

    def __init__(self) -> None:
        self._patterns: list[str] = []
        self._refs: list[int] = []
        self._set: re2.Set | None = None

    def __len__(self) -> int:
        return len(self._patterns)

    def add(self, pattern: str, ref: int) -> None:
        self._patterns.append(pattern)
        self._refs.append(ref)
        self._set = None

    def compile(self) -> None:
        if not self._patterns:
            return
        regex_set = re2.Set.SearchSet(_RE2_OPTIONS)
        for pattern in self._patterns:
            regex_set.Add(pattern)
        regex_set.Compile()
        self._set = regex_set

    def lookup(self, text: str) -> list[tuple[str, int]]:
        if not self._patterns:
            return []
        if self._set is None:
            self.compile()
        assert self._set is not None
        indexes = self._set.Match(text)
        if not indexes:  # the binding answers None, not [], when nothing matches
            return []
        return [(self._patterns[i], self._refs[i]) for i in sorted(indexes)]
