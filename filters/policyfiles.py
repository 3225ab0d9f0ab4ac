"""Which files a policy reads and its version: a short hash of their contents.

The gateway's `Policy.load()` hashes every file it read (the policy, each list, each class list,
and every file reached through `.Include<...>`) into `Policy.version`. `policy_files()` finds the
same files, in the same order, without compiling anything, so the console can tell cheaply
whether the files on disk are still the version it last recorded.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from filters.lists import guess_format, read_list
from filters.policyfile import read_policy

# Only phrase lists follow `.Include<...>` (filters.includes): other lists need not be read.
_INCLUDING = ("phrases", "weighted")


def version_of(files: Iterable[Path]) -> str:
    """A short content hash: the same lists give the same version on every gateway of a trust."""
    return version_of_contents(_contents(path) for path in files)


def version_of_contents(contents: Iterable[bytes | None]) -> str:
    """`version_of` for contents already read (None: a file that could not be read)."""
    digest = hashlib.sha256()
    for data in contents:
        digest.update(b"<unreadable>" if data is None else data)
    return digest.hexdigest()[:12]


def _contents(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def policy_files(path: Path) -> list[Path]:
    """Every file the policy at `path` reads, in the order `Policy.load()` hashes them: what
    `read_policy` names, then the files the phrase lists include, list by list."""
    spec = read_policy(path)
    files = list(spec.files)
    for list_spec in spec.lists:
        if (list_spec.format or guess_format(list_spec.path)) not in _INCLUDING:
            continue
        listed = read_list(
            list_spec.path, list_spec.format, root=list_spec.root or spec.path.parent
        )
        files.extend(listed.included)
    return files


def policy_version(path: Path) -> str:
    """The version `Policy.load(path)` would report for the files as they are now."""
    return version_of(policy_files(path))
