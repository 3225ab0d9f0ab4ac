"""Policy versions: the recorded history of the policy's files (`policy_versions`, 0012).

    latest = latest_version(session, school)                  # a `Version`, or None
    record_version(session, school=..., kind="edit", actor="it.smith", reason="...",
                   files={path: FileState(...)}, policy_hash="...", based_on=latest.number)
    list_versions(session, school)                            # newest first
    get_version(session, school, number)
    versions_between(session, start, end, school)             # for the annual review

Each version keeps the state of every file the policy reads (`FileState`: sha256, size and,
within `MAX_KEPT_BYTES` in all, the full text), the files that changed since the version before
and the unified diff of their texts. The diff is made here, against the texts the previous
version kept, so a change made by hand is shown against the last texts the console knew.

`record_version` refuses (`VersionConflict`) when `based_on` is not the newest version: a save
made from a page that is out of date never overwrites a change silently. Two consoles racing
to store the same next number hit the unique (school, number) constraint instead; the `Store`
retries the write and the retry sees the conflict.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.store.versionmodel import PolicyRevision

KIND_NAMES = {
    "first": "as first found",
    "edit": "edited in the console",
    "rollback": "rolled back",
    "outside": "changed outside the console",
    "unblock": "unblock request approved",
}
KINDS = tuple(KIND_NAMES)
MAX_KEPT_BYTES = 2 * 1024 * 1024  # the full texts one version keeps, all files together
MAX_DIFF_CHARS = 1024 * 1024
REASON_MAX = 2000
ACTOR_MAX = 128


@dataclass(frozen=True, slots=True)
class FileState:
    """One file as a version saw it. `text` is None when it was not kept; `note` says why."""

    sha256: str
    size: int
    text: str | None = None
    note: str = ""

    def as_json(self) -> dict[str, object]:
        return {"sha256": self.sha256, "size": self.size, "text": self.text, "note": self.note}

    @classmethod
    def from_json(cls, value: Mapping[str, object]) -> FileState:
        text = value.get("text")
        return cls(
            sha256=str(value.get("sha256", "")),
            size=int(str(value.get("size", 0))),
            text=text if isinstance(text, str) else None,
            note=str(value.get("note", "")),
        )


@dataclass(frozen=True, slots=True)
class Version:
    """A recorded version as the console shows it."""

    number: int
    school: str
    recorded_at: datetime
    kind: str
    actor: str | None
    reason: str
    changed: tuple[str, ...]
    policy_hash: str
    summary: str = ""
    based_on: int | None = None
    rolled_back_to: int | None = None
    diff: str = ""
    files: dict[str, FileState] = field(default_factory=dict)

    @property
    def outside(self) -> bool:
        return self.kind == "outside"

    @property
    def who(self) -> str:
        if self.actor:
            return self.actor
        if self.kind == "first":
            return "the console"
        return "changed outside the console"


class VersionConflict(Exception):
    """The save was based on a version that is no longer the newest."""

    def __init__(self, latest: Version | None, based_on: int | None) -> None:
        self.latest = latest
        self.based_on = based_on
        if latest is None:
            newest = "there is no recorded version yet"
        else:
            when = f"{latest.recorded_at:%Y-%m-%d %H:%M} UTC"
            newest = f"the newest is version {latest.number} ({latest.who}, {when})"
        super().__init__(f"this change was based on version {based_on}, but {newest}")


def latest_version(session: Session, school: str, *, with_files: bool = True) -> Version | None:
    row = session.scalar(
        select(PolicyRevision)
        .where(PolicyRevision.school == school)
        .order_by(PolicyRevision.number.desc())
        .limit(1)
    )
    return _version(row, with_files=with_files) if row is not None else None


def get_version(session: Session, school: str, number: int) -> Version | None:
    row = session.scalar(
        select(PolicyRevision).where(
            PolicyRevision.school == school, PolicyRevision.number == number
        )
    )
    return _version(row, with_files=True) if row is not None else None


def list_versions(
    session: Session, school: str, *, limit: int = 200, before: int | None = None
) -> list[Version]:
    """Newest first, without the texts and diffs (a page of the history)."""
    query = select(*_SUMMARY).where(PolicyRevision.school == school)
    if before is not None:
        query = query.where(PolicyRevision.number < before)
    rows = session.execute(query.order_by(PolicyRevision.number.desc()).limit(limit))
    return [_summary(row) for row in rows]


def versions_between(
    session: Session, start: datetime, end: datetime, school: str | None = None
) -> list[Version]:
    """Versions recorded in [start, end), oldest first; every school's when `school` is None."""
    query = select(*_SUMMARY).where(
        PolicyRevision.recorded_at >= start, PolicyRevision.recorded_at < end
    )
    if school is not None:
        query = query.where(PolicyRevision.school == school)
    rows = session.execute(query.order_by(PolicyRevision.recorded_at, PolicyRevision.id))
    return [_summary(row) for row in rows]


def record_version(
    session: Session,
    *,
    school: str,
    kind: str,
    actor: str | None,
    reason: str,
    files: Mapping[str, FileState],
    policy_hash: str,
    based_on: int | None,
    rolled_back_to: int | None = None,
    summary: str = "",
    at: datetime | None = None,
) -> Version:
    """Store the next version on top of `based_on` (None: the first). Raises `VersionConflict`
    when `based_on` is not the newest, `ValueError` for a value the table cannot hold."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of version {kind!r}")
    kept = sum(len(state.text.encode("utf-8")) for state in files.values() if state.text)
    if any(state.text and "\x00" in state.text for state in files.values()):
        raise ValueError("a kept text holds a NUL character (PostgreSQL refuses it): keep none")
    if kept > MAX_KEPT_BYTES:
        raise ValueError(f"a version keeps at most {MAX_KEPT_BYTES} bytes of text, not {kept}")
    latest = latest_version(session, school)
    if (latest.number if latest else None) != based_on:
        raise VersionConflict(latest, based_on)
    before = latest.files if latest else {}
    changed = changed_files(before, files)
    row = PolicyRevision(
        school=school,
        number=(latest.number + 1) if latest else 1,
        recorded_at=at or datetime.now(UTC),
        kind=kind,
        actor=_safe(actor, ACTOR_MAX) if actor else None,
        reason=_safe(reason, REASON_MAX),
        summary=_safe(summary or _summary_of(changed), REASON_MAX),
        changed=json.dumps(changed),
        diff=unified_diff(before, files, changed) if latest else "",
        policy_hash=_safe(policy_hash, 64),
        files=json.dumps({path: state.as_json() for path, state in files.items()}),
        based_on=based_on,
        rolled_back_to=rolled_back_to,
    )
    session.add(row)
    session.flush()
    return _version(row, with_files=False)


def changed_files(before: Mapping[str, FileState], after: Mapping[str, FileState]) -> list[str]:
    """The files added, removed or changed, sorted."""
    paths = set(before) | set(after)
    return sorted(
        p for p in paths if p not in before or p not in after or before[p].sha256 != after[p].sha256
    )


def unified_diff(
    before: Mapping[str, FileState], after: Mapping[str, FileState], changed: Sequence[str]
) -> str:
    """The unified diff of each changed file's kept texts; a file whose text is not kept on
    either side is named with the reason instead."""
    parts: list[str] = []
    for path in changed:
        old, new = before.get(path), after.get(path)
        if (old is not None and old.text is None) or (new is not None and new.text is None):
            note = (new.note if new is not None else "") or (old.note if old else "")
            parts.append(f"# {path}: changed; its text is not kept ({note or 'not text'})\n")
            continue
        lines = difflib.unified_diff(
            (old.text or "").splitlines(keepends=True) if old else [],
            (new.text or "").splitlines(keepends=True) if new else [],
            fromfile=f"a/{path}" if old else "/dev/null",
            tofile=f"b/{path}" if new else "/dev/null",
        )
        parts.append("".join(line if line.endswith("\n") else line + "\n" for line in lines))
    text = "".join(parts)
    if len(text) > MAX_DIFF_CHARS:
        cut = len(text) - MAX_DIFF_CHARS
        text = text[:MAX_DIFF_CHARS] + f"\n# … the diff is cut here ({cut} more characters)\n"
    return text


def _summary_of(changed: Sequence[str]) -> str:
    if not changed:
        return "no file changed"
    shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return f"changed {shown}"


def _safe(text: str, limit: int) -> str:
    """Storable on both backends: PostgreSQL refuses NUL, so it is shown as an escape; cut to
    the column after escaping."""
    return text.replace("\x00", "\\x00")[:limit]


_SUMMARY = (
    PolicyRevision.number, PolicyRevision.school, PolicyRevision.recorded_at,
    PolicyRevision.kind, PolicyRevision.actor, PolicyRevision.reason, PolicyRevision.changed,
    PolicyRevision.policy_hash, PolicyRevision.based_on, PolicyRevision.rolled_back_to,
    PolicyRevision.summary,
)  # fmt: skip


def _summary(row: Any) -> Version:  # a Row of _SUMMARY
    return Version(
        number=row.number, school=row.school, recorded_at=row.recorded_at, kind=row.kind,
        actor=row.actor, reason=row.reason, changed=tuple(json.loads(row.changed or "[]")),
        policy_hash=row.policy_hash, based_on=row.based_on, rolled_back_to=row.rolled_back_to,
        summary=row.summary,
    )  # fmt: skip


def _version(row: PolicyRevision, *, with_files: bool) -> Version:
    files: dict[str, FileState] = {}
    if with_files:
        raw = json.loads(row.files or "{}")
        files = {path: FileState.from_json(value) for path, value in raw.items()}
    return Version(
        number=row.number, school=row.school, recorded_at=row.recorded_at, kind=row.kind,
        actor=row.actor, reason=row.reason, changed=tuple(json.loads(row.changed or "[]")),
        policy_hash=row.policy_hash, based_on=row.based_on, rolled_back_to=row.rolled_back_to,
        diff=row.diff if with_files else "", files=files, summary=row.summary,
    )  # fmt: skip
