"""e2guardian's `.Include<path>` in phrase lists (banned and weighted), followed safely.

Lists from the field are often a top file of `.Include</etc/e2guardian/lists/phraselists/...>`
lines. Each one is read in place, as e2guardian does, within bounds because a list is data a
person edited: at most `MAX_DEPTH` levels and `MAX_FILES` files per list, each file once (a loop
is a problem, not a hang), and only inside the policy folder (`root`): an absolute path outside
it, a `..` out of it or a symlink that leads out is refused with the file:line that named it.
A relative path is relative to the file that includes it. Entries and problems of an included
file carry that file's own name and line, and the list names every file it included
(`ListFile.included`), so the policy's version and its hot reload cover them too.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from filters.listentries import ListFile

MAX_DEPTH = 5
MAX_FILES = 100

_INCLUDE_RE = re.compile(r"\.include\s*<([^<>]*)>\s*", re.IGNORECASE)

LineReader = Callable[[str, int, ListFile], None]
Lines = Callable[[Iterable[str], ListFile], Iterator[tuple[int, str]]]


def display_name(path: Path) -> str:
    """A path as the user will recognise it: relative to the working folder when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclasses.dataclass(slots=True)
class _Walk:
    root: Path
    reader: LineReader
    lines: Lines
    seen: set[Path]
    files: int = 0


def read_with_includes(
    handle: Iterable[str], result: ListFile, reader: LineReader, lines: Lines, root: Path
) -> None:
    """Read `handle` (the file `result.path`) line by line, following `.Include<...>` lines."""
    walk = _Walk(root.resolve(), reader, lines, {result.path.resolve()})
    _read(handle, result, walk, depth=0)


def _read(handle: Iterable[str], result: ListFile, walk: _Walk, depth: int) -> None:
    here = result.path
    for number, line in walk.lines(handle, result):
        match = _INCLUDE_RE.fullmatch(line)
        if match is None:
            walk.reader(line, number, result)
            continue
        target = _target(match.group(1).strip(), here, number, result, walk, depth)
        if target is not None:
            _include(target, result, walk, depth + 1)
            result.path = here


def _target(
    written: str, here: Path, number: int, result: ListFile, walk: _Walk, depth: int
) -> Path | None:
    where = f".Include<{written}>"
    if not written:
        result.problem(number, f"{where} names no file")
        return None
    if depth + 1 > MAX_DEPTH:
        result.problem(number, f"{where} is more than {MAX_DEPTH} includes deep: flatten the lists")
        return None
    if walk.files >= MAX_FILES:
        result.problem(number, f"{where} is past {MAX_FILES} included files for one list")
        return None
    path = Path(written) if Path(written).is_absolute() else here.parent / written
    try:
        # Not strict: a path outside the folder is refused as outside whether or not a file is
        # there, so the answer never depends on (or tells about) what lies outside it.
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = None
    if resolved is not None and not resolved.is_relative_to(walk.root):
        result.problem(
            number,
            f"{where} is outside the policy folder {walk.root} (after following links): copy "
            "the list into the policy folder and include it from there",
        )
        return None
    if resolved is None or not resolved.exists():
        result.problem(number, f"{where}: no such file (relative paths start at {here.parent})")
        return None
    if resolved in walk.seen:
        result.problem(number, f"{where} is already included in this list (an include loop?)")
        return None
    if not resolved.is_file():
        result.problem(number, f"{where} is not a file")
        return None
    walk.seen.add(resolved)
    walk.files += 1
    return path


def _include(path: Path, result: ListFile, walk: _Walk, depth: int) -> None:
    display, first = result.display, len(result.entries)
    result.path, result.display = path, display_name(path)
    result.included.append(path)
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            _read(handle, result, walk, depth)
    except OSError as exc:
        result.problem(0, f"cannot read the included list ({exc.strerror or exc})")
    finally:
        included = result.display
        result.display = display
    for index in range(first, len(result.entries)):
        entry = result.entries[index]
        if entry.file is None:
            result.entries[index] = dataclasses.replace(entry, file=included)
