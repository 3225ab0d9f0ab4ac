"""Changing the policy's files from the console, each change a recorded policy version.

    version, state = await current_version(console)     # noticing changes made outside it
    await save_change(console, actor=..., reason=..., base=3, proposed={path: text})
    await roll_back(console, actor=..., reason=..., base=5, number=2)

One change at a time (`Console.policy_lock` in this process, an flock on
`<data_dir>/policy-edit.lock` between console processes): the files are read and compared
with the newest recorded version, a change that was based on an older version is refused
(`VersionConflict`, naming who changed it when), the change is checked and written
(`policyedit.write_checked`: nothing is written if the policy would not load), and the new
version is recorded with who, why and the diff. If the record cannot be stored, the files are
put back, so there is never a change in force that the history does not show.

Files that changed since the newest version without the console (by hand, by a script, by the
daily purge of ended study exemptions) are recorded first as a version "changed outside the
console", with the diff against the last texts the store kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

from monitor.console.policyedit import PolicyEditError, put_back, write_checked
from monitor.console.policystate import PolicyState, path_of, read_state
from monitor.console.web import Console
from monitor.store.policyversions import (
    Version,
    VersionConflict,
    get_version,
    latest_version,
    record_version,
)

log = logging.getLogger(__name__)
FIRST_REASON = "the policy's files as the console first found them"
OUTSIDE_REASON = "changed outside the console (by hand, by a script, or by the daily purge of"
OUTSIDE_REASON += " ended study exemptions)"


@contextlib.asynccontextmanager
async def _one_change(console: Console) -> AsyncIterator[None]:
    async with console.policy_lock:
        path = console.data_dir / "policy-edit.lock"
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the file releases the lock


async def current_version(console: Console) -> tuple[Version, PolicyState]:
    """The newest recorded version and the files now, after recording them as a new version if
    they differ from it (the first visit records the files as the console found them)."""
    async with _one_change(console):
        return await _current(console)


async def _current(console: Console) -> tuple[Version, PolicyState]:
    school = console.schools.own
    for _ in range(3):
        state = await asyncio.to_thread(read_state, console.policy_path)
        latest = await console.store.read(latest_version, school)
        if latest is not None and _same(latest, state):
            return latest, state
        try:
            recorded = await console.store.write(
                record_version, school=school, kind="outside" if latest else "first",
                actor=None, reason=_outside_reason(state) if latest else FIRST_REASON,
                files=state.files, policy_hash=state.version_hash,
                based_on=latest.number if latest else None,
                summary="" if latest else f"{len(state.files)} files recorded",
            )  # fmt: skip
        except VersionConflict:  # another console process recorded it first: read again
            continue
        return recorded, state
    raise PolicyEditError("the policy's files keep changing: try again in a moment")


def _same(version: Version, state: PolicyState) -> bool:
    if version.policy_hash == state.version_hash and set(version.files) == set(state.files):
        return True
    # The gateway's hash also covers the order of the files: same contents, same version.
    return {p: f.sha256 for p, f in version.files.items()} == {
        p: f.sha256 for p, f in state.files.items()
    }


def _outside_reason(state: PolicyState) -> str:
    newest = 0.0
    for rel in state.files:
        path = path_of(state.policy_path, rel)
        try:
            newest = max(newest, path.stat().st_mtime) if path else newest
        except OSError:
            continue
    when = datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M UTC") if newest else ""
    return OUTSIDE_REASON + (f"; newest file time {when}" if when else "")


async def save_change(
    console: Console,
    *,
    actor: str,
    reason: str,
    base: int | None,
    proposed: Mapping[Path, str],
    kind: str = "edit",
    rolled_back_to: int | None = None,
    summary: str = "",
) -> Version:
    """Check, write and record one change made on top of version `base`."""
    async with _one_change(console):
        latest, state = await _current(console)
        if latest.number != base:
            raise VersionConflict(latest, base)
        return await _write_and_record(
            console, latest, state, proposed, actor=actor, reason=reason, kind=kind,
            rolled_back_to=rolled_back_to, summary=summary,
        )  # fmt: skip


async def _write_and_record(
    console: Console,
    latest: Version,
    state: PolicyState,
    proposed: Mapping[Path, str],
    **record: object,
) -> Version:
    before = {path: _text_now(path) for path in proposed}
    changes = {path: text for path, text in proposed.items() if before[path] != text}
    if not changes:
        raise PolicyEditError("Nothing to save: the files already say this.")
    await asyncio.to_thread(write_checked, console.policy_path, changes)
    try:
        after = await asyncio.to_thread(read_state, console.policy_path)
        return await console.store.write(
            record_version, school=console.schools.own, files=after.files,
            policy_hash=after.version_hash, based_on=latest.number, **record,  # type: ignore[arg-type]
        )  # fmt: skip
    except BaseException:
        # Never a change in force that the history does not show.
        await asyncio.to_thread(put_back, {p: before[p] for p in changes})
        raise


def _text_now(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


async def roll_back(
    console: Console, *, actor: str, reason: str, base: int | None, number: int
) -> tuple[Version, list[str]]:
    """Restore the kept texts of version `number` as a new version; returns it and the files
    that differ from that version but could not be restored (their text was not kept)."""
    target = await console.store.read(get_version, console.schools.own, number)
    if target is None:
        raise PolicyEditError(f"There is no version {number}.")
    async with _one_change(console):
        latest, state = await _current(console)
        if latest.number != base:
            raise VersionConflict(latest, base)
        proposed: dict[Path, str] = {}
        left: list[str] = []
        for rel, kept in target.files.items():
            now = state.files.get(rel)
            if now is not None and now.sha256 == kept.sha256:
                continue
            path = path_of(console.policy_path, rel)
            if kept.text is None or path is None:
                left.append(rel)
                continue
            proposed[path] = kept.text
        if not proposed:
            raise PolicyEditError(f"The files already say what version {number} said.")
        restored = ", ".join(rel for rel in sorted(target.files) if path_of(
            console.policy_path, rel) in proposed)
        version = await _write_and_record(
            console, latest, state, proposed, actor=actor, reason=reason, kind="rollback",
            rolled_back_to=number, summary=f"restored {restored} as in version {number}",
        )  # fmt: skip
        return version, left


async def recorded[T](
    console: Console, *, actor: str, reason: str, kind: str, work: Callable[[], T],
    summary: str = "",
) -> T:
    """Run `work` (a blocking change to the policy's files, such as approving an unblock
    request) and record what it changed as a version. If the record cannot be stored the change
    stays, and the next visit records it as made outside the console."""
    async with _one_change(console):
        latest, _ = await _current(console)
        result = await asyncio.to_thread(work)
        after = await asyncio.to_thread(read_state, console.policy_path)
        if _same(latest, after):
            return result
        try:
            await console.store.write(
                record_version, school=console.schools.own, kind=kind, actor=actor,
                reason=reason, summary=summary, files=after.files,
                policy_hash=after.version_hash, based_on=latest.number,
            )  # fmt: skip
        except Exception:  # the change is made; the next visit records it as from outside
            log.exception("the policy change was made but its version could not be recorded")
        return result
