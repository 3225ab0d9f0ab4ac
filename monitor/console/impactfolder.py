"""The proposed policy, built in a private copy of the policy folder: the live files are never
written.

    check_proposed(proposed)                          # hostile paths refused (PreviewRefused)
    loaded = load_pair(policy_path, work, proposed)   # both policies, or the problems

`load_pair` empties `work` (a private folder of the console's, mode 0700), copies the live
policy folder into it, writes the proposed texts over their files and loads the policy in force
and the copy with `filters.policy.Policy`. The copy keeps the files' modification times
(`shutil.copy2`) and sits at the same place every time, so the list cache
(`filters.listcache`, keyed by path, size and time) finds big imported lists already compiled
instead of writing a new cache entry per preview. Symlinks are copied as links, so a link that
leads out of the folder is refused by the copy as by the live policy. The copy is removed once
loaded: it may hold exemptions that name pupils, which the retention purge takes from the live
files only.

Problems are named relative to the policy folder (`local/block.yaml:4: ...`), as IT staff
know the files, not by the copy's path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from filters.includes import display_name
from filters.policy import Policy, PolicyError

MAX_FILES = 50
MAX_BYTES = 32 * 1024 * 1024  # every proposed text together
LEFT_OUT = shutil.ignore_patterns(".git", "__pycache__")


class PreviewRefused(ValueError):
    """The proposed change names a file the preview will not write; nothing was started."""


@dataclass(frozen=True, slots=True)
class LoadedPair:
    current: Policy | None  # None: the files in force do not load now (see current_problems)
    proposed: Policy | None  # None: see problems
    problems: tuple[str, ...]  # the proposed policy's, `file:line: reason`
    current_problems: tuple[str, ...]
    rename: dict[str, str]  # how the copy's file names are shown (prefix -> "")


def check_proposed(proposed: Mapping[str, str]) -> None:
    """Refuse anything but a few texts for plain relative paths inside the policy folder."""
    if len(proposed) > MAX_FILES:
        raise PreviewRefused(f"a change may name at most {MAX_FILES} files")
    size = 0
    for name, text in proposed.items():
        _check_name(name)
        if not isinstance(text, str):
            raise PreviewRefused(f"{name!r}: the proposed text is not text")
        try:
            size += len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise PreviewRefused(f"{name!r}: the proposed text is not valid Unicode") from None
    if size > MAX_BYTES:
        raise PreviewRefused(f"the proposed files are over {MAX_BYTES // (1024 * 1024)} MB")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name or len(name) > 1024:
        raise PreviewRefused(f"{name!r} is not a file of the policy folder")
    if any(ord(c) < 32 or c in "\\\x7f" for c in name):
        raise PreviewRefused(f"{name!r}: control characters and backslashes are refused")
    path = PurePosixPath(name)
    if path.is_absolute() or name.startswith("~"):
        raise PreviewRefused(f"{name!r}: name a file relative to the policy folder")
    if any(part in ("..", ".", ".git") or len(part) > 255 for part in name.split("/")):
        raise PreviewRefused(f"{name!r} leads out of the policy folder or into .git")


def load_pair(policy_path: Path, work: Path, proposed: Mapping[str, str]) -> LoadedPair:
    """Copy, write, load both (see the module docstring). Raises `PreviewRefused` for a path
    that would be written through a link out of the copy."""
    check_proposed(proposed)
    copy = _fresh_copy(policy_path.parent, work)
    try:
        for name, text in proposed.items():
            _write_inside(copy, name, text)
        rename = _renames(copy, policy_path.parent)
        current, current_problems = _load(policy_path, rename)
        candidate, problems = _load(copy / policy_path.name, rename)
    finally:
        shutil.rmtree(copy, ignore_errors=True)
    return LoadedPair(current, candidate, problems, current_problems, rename)


def unrooted(text: str, rename: Mapping[str, str]) -> str:
    """`text` with the copy's folder taken off the file names it mentions."""
    for prefix, replacement in rename.items():
        text = text.replace(prefix, replacement)
    return text


def _fresh_copy(live: Path, work: Path) -> Path:
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(work, 0o700)
    copy = work / "policy"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(live, copy, symlinks=True, ignore=LEFT_OUT)
    return copy


def _write_inside(copy: Path, name: str, text: str) -> None:
    """Write a proposed text as a new file in the copy, never through a link: the copy may
    hold links the school made, and one could lead back to the live files."""
    target = copy / name
    root = copy.resolve()
    # The deepest part of the path that is there already (a link counts, even a broken one)
    # must lead inside: only then may the folders below it be made.
    there = target.parent
    while there != copy and not os.path.lexists(there):
        there = there.parent
    if not there.resolve().is_relative_to(root):
        raise PreviewRefused(f"{name!r}: its folder is a link out of the policy folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.parent.resolve().is_relative_to(root):
        raise PreviewRefused(f"{name!r}: its folder is a link out of the policy folder")
    if target.is_symlink() or target.exists():
        if target.is_dir() and not target.is_symlink():
            raise PreviewRefused(f"{name!r} is a folder")
        target.unlink()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)


def _renames(copy: Path, live: Path) -> dict[str, str]:
    """Both policies' file names as the policy folder's own (`local/block.yaml`)."""
    prefixes = {
        str(folder) + os.sep
        for place in (copy, live)
        for folder in (place.resolve(), place, Path(display_name(place)))
        if str(folder) not in ("", ".")
    }
    # Longest first, so a shorter prefix never cuts into a longer one.
    return {prefix: "" for prefix in sorted(prefixes, key=len, reverse=True)}


def _load(path: Path, rename: Mapping[str, str]) -> tuple[Policy | None, tuple[str, ...]]:
    try:
        return Policy.load(path), ()
    except PolicyError as exc:
        return None, tuple(unrooted(str(problem), rename) for problem in exc.problems)
    except (OSError, ValueError) as exc:  # unreadable or undecodable: still the school's to fix
        return None, (unrooted(f"{path.name}: cannot be read ({exc})", rename),)
