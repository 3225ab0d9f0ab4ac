"""The policy's files as they are on disk now: what a policy version records, and which lists
IT staff may edit in the console. Blocking (file reads): call from a worker thread.

`read_state()` reads every file the gateway's policy reads (`filters.policyfiles`), gives the
version hash the gateway would report for them, and each file's `FileState`. The full text is
kept for the policy file and the lists, editable ones first, up to `MAX_KEPT_BYTES` (2 MB) in
all; a file past that, one that is not UTF-8 text, one outside the policy folder, and the
study exemption files and class lists (they can name pupils, and the retention purge removes
ended exemptions from them) are recorded by their hash and size only.

Editable lists are the policy's own YAML lists inside its folder: the block lists under
`lists:` and the study allowlists under `allowlist:` (`EditableList`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from filters.lists import guess_format
from filters.policyfile import PolicySpec, read_policy
from filters.policyfiles import policy_files, version_of_contents
from monitor.store.policyversions import MAX_KEPT_BYTES, FileState

PUPIL_FILES = "study exemptions and class lists can name pupils"


@dataclass(frozen=True, slots=True)
class EditableList:
    path: Path
    rel: str  # relative to the policy folder, with / (what forms and versions name)
    use: str  # "block" (a category list) | "allow" (a study allowlist)
    category: str | None  # the list's category (block lists)
    illegal: bool  # its category is marked illegal: true (nothing may be taken off it)

    @property
    def title(self) -> str:
        if self.use == "allow":
            return "study allowlist"
        return f"block list ({self.category})"


@dataclass(slots=True)
class PolicyState:
    policy_path: Path
    version_hash: str
    spec: PolicySpec
    files: dict[str, FileState] = field(default_factory=dict)
    lists: list[EditableList] = field(default_factory=list)

    def editable(self, rel: str) -> EditableList | None:
        return next((item for item in self.lists if item.rel == rel), None)


def rel_of(policy_path: Path, path: Path) -> str:
    """`path` relative to the policy folder (with /), or its absolute path when outside."""
    base = policy_path.parent.resolve()
    resolved = path.resolve()
    if resolved.is_relative_to(base):
        return resolved.relative_to(base).as_posix()
    return str(resolved)


def path_of(policy_path: Path, rel: str) -> Path | None:
    """The file a relative name from a form or a version names, if it is inside the policy
    folder (a hostile `../x` or absolute path is None)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\x00" in rel:
        return None
    base = policy_path.parent.resolve()
    path = (base / rel).resolve()
    return path if path.is_relative_to(base) and path != base else None


def read_state(policy_path: Path) -> PolicyState:
    spec = read_policy(policy_path)
    files = policy_files(policy_path)
    contents = [_read(path) for path in files]
    state = PolicyState(policy_path, version_of_contents(contents), spec)
    state.lists = editable_lists(spec)
    listed = {s.path.resolve() for s in spec.lists}
    pupil_files = {p.resolve() for p in spec.files} - listed - {policy_path.resolve()}
    first = [policy_path.resolve(), *(item.path.resolve() for item in state.lists)]
    order = sorted(
        zip(files, contents, strict=True),
        key=lambda pair: (pair[0].resolve() not in first, len(pair[1] or b"")),
    )
    budget = MAX_KEPT_BYTES
    for path, data in order:
        rel = rel_of(policy_path, path)
        if rel in state.files:
            continue  # a file named twice is hashed twice, recorded once
        note = _why_not_kept(path, data, rel, pupil_files, budget)
        text = None if note else (data or b"").decode("utf-8")
        if text is not None:
            budget -= len(data or b"")
        digest = hashlib.sha256(data or b"").hexdigest() if data is not None else "unreadable"
        state.files[rel] = FileState(digest, len(data or b""), text, note)
    return state


def _why_not_kept(
    path: Path, data: bytes | None, rel: str, pupil_files: set[Path], budget: int
) -> str:
    if data is None:
        return "cannot be read"
    if rel.startswith("/"):
        return "outside the policy folder"
    if path.resolve() in pupil_files:
        return PUPIL_FILES
    if len(data) > budget:
        return f"past the {MAX_KEPT_BYTES // (1024 * 1024)} MB a version keeps"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    return "holds a NUL character" if "\x00" in text else ""


def editable_lists(spec: PolicySpec) -> list[EditableList]:
    """The policy's YAML block lists and study allowlists inside its folder, local ones first."""
    base = spec.path.parent.resolve()
    found: list[EditableList] = []
    for item in spec.lists:
        fmt = item.format or guess_format(item.path)
        if item.use not in ("block", "allow") or fmt != "yaml":
            continue
        if not item.path.resolve().is_relative_to(base):
            continue
        rel = rel_of(spec.path, item.path)
        if any(known.rel == rel for known in found):
            continue
        category = spec.categories.get(item.category or "")
        illegal = bool(category and category.illegal)
        found.append(EditableList(item.path, rel, item.use, item.category, illegal))
    return sorted(found, key=lambda e: (not e.rel.startswith("local/"), e.use != "block", e.rel))


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
