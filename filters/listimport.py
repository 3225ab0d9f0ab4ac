"""Importing published lists (UT1 categories, a vendor's CTIRU/IWF URL list) rather than shipping.

The import reads a local file, folder or `.tar.gz` (a school downloads it under its own licence),
keeps only lines that validate, and writes normalised files with a header naming the source, the
date and the licence, so next year's filtering review can say where every entry came from. Bad
lines are reported with file:line and skipped, never copied.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

from filters.lists import ListEntry, ListFile, read_list

IMPORT_KINDS = ("ut1", "domains", "hosts", "urls", "e2guardian")
# A UT1 archive is ~30 MB; a member far larger than that is not a list.
MAX_MEMBER_BYTES = 512 * 1024 * 1024


class ListImportError(Exception):
    """The source cannot be imported; the message says why and what to do."""


def import_list(
    kind: str, source: str, into: str, *, category: str | None = None, licence: str = ""
) -> list[str]:
    """Import one published list; returns the lines of a report for the console."""
    src = Path(source)
    if not src.exists():
        raise ListImportError(f"{source} does not exist: download the list first, then import it")
    if kind == "ut1":
        return _import_ut1(src, Path(into), category, licence)
    if kind == "e2guardian":
        return _import_e2guardian(src, Path(into), licence)
    fmt = {"domains": "domains", "hosts": "hosts", "urls": "urls"}[kind]
    if src.is_dir():
        raise ListImportError(f"{source} is a folder: give the list file itself")
    out = Path(into)
    if out.suffix == "" and not out.name.endswith(("domains", "urls")):
        out = out / f"{src.stem}.{'urls' if fmt == 'urls' else 'domains'}"
    listed = read_list(src, fmt)
    return _write(listed, out, source, licence)


def _import_e2guardian(src: Path, into: Path, licence: str) -> list[str]:
    """An e2guardian weighted or banned phrase list, its `.Include<...>`s flattened into one
    file (includes may name files in the list's own folder tree, as the Debian lists do)."""
    if src.is_dir():
        raise ListImportError(f"{src} is a folder: give the phrase list itself")
    fmt = "weighted" if "weighted" in src.name.lower() else "phrases"
    out = into
    if not out.name.endswith((".weighted", ".phrases")):
        out = out / f"{src.name}.{fmt}"
    listed = read_list(src, fmt, root=src.parent)
    return _write(listed, out, f"e2guardian {src.name} from {src}", licence or "GPL-2.0")


def _line(entry: ListEntry) -> str:
    if entry.kind == "weighted":
        return ",".join(f"<{word}>" for word in entry.words) + f"<{entry.weight}>"
    return entry.value


def _import_ut1(src: Path, into: Path, category: str | None, licence: str) -> list[str]:
    if not category:
        raise ListImportError("a UT1 import needs --category (for example agressif)")
    if "/" in category or category.startswith("."):
        raise ListImportError(f"{category!r} is not a UT1 category name")
    if src.is_dir():
        return _import_ut1_folder(_ut1_category_folder(src, category), into, category, licence, src)
    if not tarfile.is_tarfile(src):
        raise ListImportError(f"{src} is neither a folder nor a tar archive of UT1 categories")
    with tempfile.TemporaryDirectory() as tmp:
        _extract_category(src, category, Path(tmp))
        return _import_ut1_folder(
            _ut1_category_folder(Path(tmp), category), into, category, licence, src
        )


def _ut1_category_folder(root: Path, category: str) -> Path:
    for candidate in (root / category, root / "blacklists" / category, root):
        if (candidate / "domains").is_file() or (candidate / "urls").is_file():
            return candidate
    raise ListImportError(
        f"no UT1 category {category!r} (with a domains or urls file) under {root}"
    )


def _extract_category(archive: Path, category: str, target: Path) -> None:
    """Extract only the category's own list files; refuse links and paths leading outside."""
    with tarfile.open(archive) as tar:
        for member in _wanted_members(tar, category):
            name = PurePosixPath(member.name)
            dest = target / category / name.name
            dest.parent.mkdir(parents=True, exist_ok=True)
            handle = tar.extractfile(member)
            if handle is None:
                continue
            with handle, dest.open("wb") as out:
                out.write(handle.read(MAX_MEMBER_BYTES))


def _wanted_members(tar: tarfile.TarFile, category: str) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        if not member.isfile() or member.size > MAX_MEMBER_BYTES:
            continue
        parts = PurePosixPath(member.name).parts
        if ".." in parts or len(parts) < 2:
            continue
        if parts[-2] == category and parts[-1] in ("domains", "urls", "expressions"):
            yield member


def _import_ut1_folder(
    folder: Path, into: Path, category: str, licence: str, origin: Path
) -> list[str]:
    report: list[str] = []
    target = into / category
    for member in ("domains", "urls", "expressions"):
        path = folder / member
        if not path.is_file():
            continue
        listed = read_list(path, member, display=f"{origin}:{category}/{member}")
        report.extend(
            _write(
                listed,
                target / member,
                f"UT1 {category}/{member} from {origin}",
                licence or "CC BY-SA 4.0 (UT1, Université Toulouse Capitole)",
            )
        )
    report.append(f"add to the policy's lists: - {{folder: {target}, category: <your category>}}")
    return report


def _write(listed: ListFile, out: Path, source: str, licence: str) -> list[str]:
    out.parent.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"# Imported by prevent-monitor on {now}",
        f"# Source:  {source}",
        f"# Licence: {licence}",
        f"# {len(listed.entries)} entries kept, {len(listed.problems)} lines skipped",
    ]
    seen: set[str] = set()
    lines = []
    for entry in listed.entries:
        line = _line(entry)
        if line in seen:
            continue
        seen.add(line)
        lines.append(line)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    tmp.replace(out)  # a reload never sees half a file
    report = [f"{out}: {len(lines)} entries written from {listed.display}"]
    report.extend(f"  skipped {problem}" for problem in listed.problems[:50])
    if len(listed.problems) > 50:
        report.append(f"  ... and {len(listed.problems) - 50} more skipped lines")
    return report
