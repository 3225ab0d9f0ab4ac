"""A compiled cache for big domain lists, so a million-line UT1 list loads in about a second.

One cache file per list file, keyed by its path, size, modification time and format: an edited
list simply misses the cache. Only lists that read without problems are cached, so validation
still sees every bad line. The cache is written in chunks of `CHUNK` entries and read back chunk
by chunk, so a reload in a worker thread never holds the interpreter long enough to pause the
decisions being made on other threads.

Where: `$PREVENT_MONITOR_CACHE_DIR`, else `$XDG_CACHE_HOME/prevent-monitor`, else
`~/.cache/prevent-monitor`. Set `PREVENT_MONITOR_CACHE_DIR=off` to disable it.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when what a list compiles to changes
CHUNK = 50_000


def cache_dir() -> Path | None:
    configured = os.environ.get("PREVENT_MONITOR_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prevent-monitor"


def _cache_file(path: Path, fmt: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return None
    key = f"{FORMAT_VERSION}|{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{fmt}"
    return folder / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".domains.marshal")


def load_domains(path: Path, fmt: str) -> Iterator[tuple[list[str], list[int]]] | None:
    """Chunks of (domains, lines) from the cache, or None when there is no valid cache."""
    cached = _cache_file(path, fmt)
    if cached is None or not cached.is_file():
        return None
    return _chunks(cached)


def _chunks(cached: Path) -> Iterator[tuple[list[str], list[int]]]:
    with cached.open("rb") as handle:
        while True:
            try:
                chunk = marshal.load(handle)
            except EOFError:
                return
            yield chunk


def store_domains(path: Path, fmt: str, domains: list[str], lines: list[int]) -> None:
    """Write the cache. A failure only costs the next load its speed: logged, not raised."""
    cached = _cache_file(path, fmt)
    if cached is None:
        return
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            for start in range(0, len(domains), CHUNK):
                marshal.dump((domains[start : start + CHUNK], lines[start : start + CHUNK]), handle)
        tmp.replace(cached)
    except OSError as exc:
        log.warning("cannot write the list cache %s: %s", cached, exc)
