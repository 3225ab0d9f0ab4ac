"""The writer's durable local spool: where events wait while the database is unreachable.

Format (see docs/store.md): `events.spool` is an append-only file of JSON lines, one event row
(`monitor.store.rows` format, ASCII-only JSON, with `"v": 1`) per line. Each `append()` writes a
whole batch with one write and `fsync`s it before returning, so an event the writer has spooled
survives a power cut. `events.spool.pos` holds the byte offset up to which rows have been
replayed into the database (written atomically: temporary file, fsync, rename); once everything
is replayed both files are truncated. A torn last line (a crash during a write) is cut off when
the spool is opened. Rows the database refuses for good (after a row-by-row retry) go to
`rejected.jsonl` beside it, for a person to look at, instead of being lost.

Replay is at-least-once from the spool's point of view; the store makes it exactly-once (event
ids are unique and every accepted id gets a receipt).

An `OSError` from `append()` (disk full, read-only file system) is raised to the writer, which
reports it loudly and keeps the rows in memory.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SPOOL_FILE = "events.spool"
POS_FILE = "events.spool.pos"
REJECTED_FILE = "rejected.jsonl"
FORMAT_VERSION = 1


class Spool:
    """An append-only JSON-lines file with a replay position. Used by one thread only."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / SPOOL_FILE
        self.pos_path = self.directory / POS_FILE
        self.rejected_path = self.directory / REJECTED_FILE
        self.corrupt_lines = 0
        self._recover_torn_tail()
        self._pos = min(self._read_pos(), self._size())
        self.pending_records = self._count_lines(self._pos)

    # -- state

    def _size(self) -> int:
        try:
            return os.stat(self.path).st_size
        except FileNotFoundError:
            return 0

    @property
    def pending_bytes(self) -> int:
        return max(0, self._size() - self._pos)

    def __bool__(self) -> bool:
        return self.pending_records > 0

    # -- writing

    def append(self, rows: Sequence[dict[str, Any]]) -> None:
        """Append `rows` durably (one write, one fsync). Raises OSError; never leaves a torn
        line behind if it can help it."""
        if not rows:
            return
        data = b"".join(
            json.dumps({"v": FORMAT_VERSION, **row}, ensure_ascii=True, default=str).encode()
            + b"\n"
            for row in rows
        )
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            before = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                os.fsync(fd)
            except OSError:
                self._cut(fd, before)
                raise
        finally:
            os.close(fd)
        self.pending_records += len(rows)

    @staticmethod
    def _cut(fd: int, size: int) -> None:
        # A character device or a dead disk may refuse this too: nothing more to do then.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)

    def reject(self, row: dict[str, Any], reason: str) -> None:
        """Keep a row the database refused for good, with the reason. Best effort."""
        line = json.dumps({"reason": reason, "row": row}, ensure_ascii=True, default=str) + "\n"
        try:
            with open(self.rejected_path, "a", encoding="ascii") as handle:
                handle.write(line)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            log.critical("could not keep a rejected event in %s: %s", self.rejected_path, exc)

    # -- replaying

    def read(self, limit: int) -> tuple[list[dict[str, Any]], int]:
        """Up to `limit` spooled rows from the replay position, and the offset after them."""
        rows: list[dict[str, Any]] = []
        if not self.path.exists():
            return rows, self._pos
        with open(self.path, "rb") as handle:
            handle.seek(self._pos)
            offset = self._pos
            while len(rows) < limit:
                line = handle.readline()
                if not line.endswith(b"\n"):
                    break
                offset += len(line)
                try:
                    record = json.loads(line)
                    if not isinstance(record, dict):
                        raise ValueError("not an object")
                except ValueError:
                    self.corrupt_lines += 1
                    log.error("skipping a damaged line in %s at byte %d", self.path, offset)
                    rows.append({})  # counted so pending_records stays right; dropped by caller
                    continue
                record.pop("v", None)
                rows.append(record)
        return rows, offset

    def consume(self, offset: int, count: int) -> None:
        """Mark rows up to `offset` as replayed (`count` of them)."""
        self.pending_records = max(0, self.pending_records - count)
        if offset >= self._size():
            self._reset()
            return
        self._pos = offset
        tmp = self.pos_path.with_suffix(".tmp")
        with open(tmp, "w", encoding="ascii") as handle:
            handle.write(str(offset))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.pos_path)

    def _reset(self) -> None:
        with open(self.path, "ab") as handle:
            handle.truncate(0)
            os.fsync(handle.fileno())
        self.pos_path.unlink(missing_ok=True)
        self._pos = 0
        self.pending_records = 0

    # -- opening

    def _read_pos(self) -> int:
        try:
            return max(0, int(self.pos_path.read_text(encoding="ascii").strip() or 0))
        except (FileNotFoundError, ValueError):
            return 0

    def _recover_torn_tail(self) -> None:
        if not self.path.is_file():
            return  # missing, or a device (tests point it at /dev/full)
        size = self._size()
        if size == 0:
            return
        with open(self.path, "rb+") as handle:
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return
            keep = end = size
            while end > 0:  # walk back to the last complete line
                start = max(0, end - 65536)
                handle.seek(start)
                cut = handle.read(end - start).rfind(b"\n")
                if cut >= 0:
                    keep = start + cut + 1
                    break
                end = keep = start
            log.warning("cutting a torn last line from %s (%d bytes)", self.path, size - keep)
            handle.truncate(keep)

    def _count_lines(self, start: int) -> int:
        if not self.path.is_file():
            return 0
        count = 0
        with open(self.path, "rb") as handle:
            handle.seek(start)
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                count += chunk.count(b"\n")
        return count
