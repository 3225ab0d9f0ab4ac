"""A compiled cache for big domain lists, so a million-line UT1 list loads in about a second.

One cache file per list file, keyed by its path, size, modification time and format: an edited
list simply misses the cache. Only lists that read without problems are cached, so validation
still sees every bad line. The cache is written in chunks of `CHUNK` entries and read back chunk
by chunk, so a reload in a worker thread never holds the interpreter long enough to pause the
decisions being made on other threads.

Where: `$PREVENT_MONITOR_CACHE_DIR` if set; else the first of these that can be written:
`$XDG_CACHE_HOME/prevent-monitor` or `~/.cache/prevent-monitor`, systemd's `$CACHE_DIRECTORY`,
`/var/cache/prevent-monitor`, and a private (0700, ours) folder in the temporary directory.
The fallbacks matter for the Squid helper: Squid runs it as user `proxy`, whose home (`/bin`)
cannot be written. Set `PREVENT_MONITOR_CACHE_DIR=off` to disable the cache.
"""

from __future__ import annotations

import hashlib
import logging
import marshal
import os
import stat
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

log = logging.getLogger(__name__)

FORMAT_VERSION = 3  # bump when what a list compiles to changes
CHUNK = 5_000
_MAGIC = "prevent-monitor domains"
SYSTEM_CACHE = Path("/var/cache/prevent-monitor")


def cache_dir() -> Path | None:
    configured = os.environ.get("PREVENT_MONITOR_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    return _writable_default(
        os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache"),
        os.environ.get("CACHE_DIRECTORY", ""),
    )


@cache
def _writable_default(user_cache: str, systemd_cache: str) -> Path | None:
    """The first usable default folder, worked out once per process (and per environment)."""
    candidates = [Path(user_cache) / "prevent-monitor"]
    if systemd_cache:
        candidates.append(Path(systemd_cache.split(":")[0]))
    candidates.append(SYSTEM_CACHE)
    for folder in candidates:
        if _usable(folder):
            return folder
    private = Path(tempfile.gettempdir()) / f"prevent-monitor-cache-{os.getuid()}"
    try:
        private.mkdir(mode=0o700, exist_ok=True)
        info = private.lstat()
    except OSError:
        info = None
    # Only a real folder that is ours alone: a cache another user could plant is not read.
    ours = info is not None and stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
    if ours and info is not None and info.st_mode & 0o077 == 0:
        log.info("list cache in %s (no other cache folder can be written)", private)
        return private
    log.warning(
        "no folder for the list cache can be written (tried %s); big lists load slower. Set "
        "PREVENT_MONITOR_CACHE_DIR to a writable folder, or to off",
        ", ".join(str(c) for c in candidates),
    )
    return None


def _usable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


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


def load_domains(path: Path, fmt: str) -> list[tuple[list[str], list[int]]] | None:
    """The cached (domains, lines) chunks, or None when there is no usable cache. A damaged
    cache file is logged and ignored (the list is read again), never an error."""
    cached = _cache_file(path, fmt)
    if cached is None or not cached.is_file():
        return None
    try:
        records: list[object] = list(_chunks(cached))
    except (OSError, ValueError, EOFError, TypeError, OverflowError, MemoryError) as exc:
        log.warning("ignoring the damaged list cache %s: %s", cached, exc)
        return None
    # The header says how many entries the file holds: a short or damaged file is not a list.
    header = records[0] if records else None
    chunks = records[1:]
    whole = (
        isinstance(header, tuple)
        and len(header) == 2
        and header[0] == _MAGIC
        and all(_well_formed(chunk) for chunk in chunks)
        and header[1] == sum(len(chunk[0]) for chunk in chunks)  # type: ignore[index, misc]
    )
    if not whole:
        log.warning("ignoring the damaged list cache %s", cached)
        return None
    return chunks  # type: ignore[return-value]


def _well_formed(chunk: object) -> bool:
    return (
        isinstance(chunk, tuple)
        and len(chunk) == 2
        and isinstance(chunk[0], list)
        and isinstance(chunk[1], list)
        and len(chunk[0]) == len(chunk[1])
    )


def _chunks(cached: Path) -> Iterator[object]:
    # Each chunk is length-prefixed and read whole before marshal.loads(): marshal.load() on a
    # file reads object by object, holding the interpreter ten times longer.
    with cached.open("rb") as handle:
        while True:
            size = handle.read(8)
            if not size:
                return
            if len(size) < 8:
                raise ValueError("truncated chunk header")
            data = handle.read(int.from_bytes(size, "little"))
            yield marshal.loads(data)


def store_domains(path: Path, fmt: str, domains: list[str], lines: list[int]) -> None:
    """Write the cache. A failure only costs the next load its speed: logged, not raised."""
    cached = _cache_file(path, fmt)
    if cached is None:
        return
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as handle:
            header = marshal.dumps((_MAGIC, len(domains)))
            handle.write(len(header).to_bytes(8, "little"))
            handle.write(header)
            for start in range(0, len(domains), CHUNK):
                data = marshal.dumps((domains[start : start + CHUNK], lines[start : start + CHUNK]))
                handle.write(len(data).to_bytes(8, "little"))
                handle.write(data)
        tmp.replace(cached)
    except OSError as exc:
        log.warning("cannot write the list cache %s: %s", cached, exc)
