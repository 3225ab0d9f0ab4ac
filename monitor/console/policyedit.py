"""Writing changes into the policy's files, safely: approved unblock requests, and IT staff's
list and group edits (`monitor.console.policysave`).

An allowlist entry goes into the policy's local allowlist (`local/allow.yaml`: `entries:` of
`{domain: ..., note: ...}` or `{url: ..., note: ...}`); a study exemption into the file the
policy's `exemptions:` names (`local/exemptions.yaml`). The gateway's hot reload picks either up.

Every change is checked before anything is written (`write_checked`): the changed files are put
in a hidden copy of the policy folder (hard links to the files that do not change) and that
policy is checked with `Policy.validate()`, the checks of `prevent-monitor lists validate`, and
for anything it would lift that is marked illegal (`monitor.console.illegalguard`). If it has
new problems, nothing is written and the problems are reported (`PolicyEditError`) with
the real file:line. Otherwise each file is written atomically (a temp file, fsync, rename).
An entry is added as one new line (`monitor.console.policytext`), so comments stay.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from filters.includes import display_name
from filters.lists import ListProblem
from filters.policy import Policy
from filters.policyfile import read_policy
from filters.urls import normalise_host
from monitor.console.illegalguard import lifted
from monitor.console.policytext import PolicyEditError as PolicyEditError  # re-exported
from monitor.console.policytext import add_entry

_LOCK = threading.Lock()  # one edit at a time per process: the read-modify-write is not atomic
EXEMPTION_ID = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True, slots=True)
class AllowEntry:
    domain: str | None
    url: str | None
    note: str


@dataclass(frozen=True, slots=True)
class ExemptionEntry:
    id: str
    reason: str
    requested_by: str
    approved_by: str
    groups: list[str]
    categories: list[str]
    sites: list[str]
    starts: date
    ends: date


def allowlist_file(policy_path: Path) -> Path:
    """The local allowlist: the policy's `local/allow.yaml`, else its last YAML allowlist."""
    spec = read_policy(policy_path)
    allow = [s.path for s in spec.lists if s.use == "allow"]
    local = [p for p in allow if p.parent.name == "local" and p.name == "allow.yaml"]
    yaml_lists = [p for p in allow if p.suffix in (".yaml", ".yml")]
    if local:
        return local[0]
    if yaml_lists:
        return yaml_lists[-1]
    raise PolicyEditError(
        f"{policy_path}: the policy names no YAML allowlist: add `- file: local/allow.yaml` "
        "under `allowlist:`"
    )


def exemptions_file(policy_path: Path) -> Path:
    """The file the policy's `exemptions:` list names with `- file: ...`."""
    try:
        raw = yaml.safe_load(policy_path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyEditError(f"{policy_path}: cannot read the policy: {exc}") from None
    listed = raw.get("exemptions") if isinstance(raw, dict) else None
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and set(item) == {"file"} and isinstance(item["file"], str):
            path = Path(item["file"])
            return path if path.is_absolute() else policy_path.parent / path
    raise PolicyEditError(
        f"{policy_path}: the policy names no exemptions file: add `- file: "
        "local/exemptions.yaml` under `exemptions:`"
    )


def site_of(value: str) -> str | None:
    """A canonical host name from what IT staff typed, or None if it is not one."""
    host, kind, _ = normalise_host(value.strip())
    return None if kind in ("malformed", "empty") else host


def add_allow_entry(policy_path: Path, entry: AllowEntry) -> Path:
    item: dict[str, Any] = {"domain": entry.domain} if entry.domain else {"url": entry.url}
    if entry.note:
        item["note"] = entry.note
    path = allowlist_file(policy_path)
    _append(policy_path, path, "entries", item)
    return path


def add_exemption(policy_path: Path, entry: ExemptionEntry) -> Path:
    item: dict[str, Any] = {
        "id": entry.id,
        "reason": entry.reason,
        "requested_by": entry.requested_by,
        "approved_by": entry.approved_by,
    }
    if entry.groups:
        item["groups"] = entry.groups
    if entry.categories:
        item["categories"] = entry.categories
    if entry.sites:
        item["sites"] = entry.sites
    item["starts"] = entry.starts.isoformat()
    item["ends"] = entry.ends.isoformat()
    path = exemptions_file(policy_path)
    _append(policy_path, path, "exemptions", item)
    return path


def exemption_id(request_id: int, starts: date, label: str) -> str:
    slug = EXEMPTION_ID.sub("-", label.lower()).strip("-")[:40] or "study"
    return f"unblock-{request_id}-{slug}-{starts.isoformat()}"


def _append(policy_path: Path, path: Path, key: str, item: dict[str, Any]) -> None:
    with _LOCK:
        try:
            old_text = path.read_text(encoding="utf-8") if path.exists() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyEditError(f"{path}: cannot read: {exc}") from None
        try:
            new_text = add_entry(old_text, item, key)
        except PolicyEditError as exc:
            raise PolicyEditError(f"{path}: {exc}: fix the file by hand first") from None
        _write_checked(policy_path, {path: new_text})


def write_checked(policy_path: Path, proposed: Mapping[Path, str]) -> None:
    """Write each file's new text, after checking the policy would load with all of them
    (nothing is written otherwise: `PolicyEditError` with the new problems at file:line)."""
    with _LOCK:
        _write_checked(policy_path, proposed)


def _write_checked(policy_path: Path, proposed: Mapping[Path, str]) -> None:
    base = policy_path.parent
    for path in proposed:
        if not path.resolve().is_relative_to(base.resolve()):
            raise PolicyEditError(f"{path} is outside the policy folder: the console writes none")
    problems, lifts = _check_in_copy(policy_path, proposed)
    if problems:
        raise PolicyEditError(
            "the policy would not load with this change, so nothing was saved", problems + lifts
        )
    if lifts:
        raise PolicyEditError(
            "this change would lift a category marked illegal: true, so nothing was saved", lifts
        )
    written: dict[Path, str | None] = {}
    try:
        for path, text in proposed.items():
            written[path] = path.read_text(encoding="utf-8") if path.exists() else None
            _write_atomic(path, text)
    except (OSError, UnicodeDecodeError) as exc:
        _put_back(written)
        raise PolicyEditError(f"cannot write the change ({exc}); nothing was changed") from None


def put_back(written: Mapping[Path, str | None]) -> None:
    """Return files to texts read before a change (None: the file did not exist)."""
    with _LOCK:
        _put_back(written)


def _put_back(written: Mapping[Path, str | None]) -> None:
    for path, text in written.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            _write_atomic(path, text)


def new_problems(policy_path: Path, proposed: Mapping[Path, str]) -> list[str]:
    """The problems `Policy.validate()` would find with `proposed` written that it does not
    find now, with the real file names, and what it would lift that is marked illegal.
    Checked in a hidden copy of the policy folder (hard links, or copies across file
    systems), so the gateway never sees a file half-checked."""
    problems, lifts = _check_in_copy(policy_path, proposed)
    return problems + lifts


def _check_in_copy(policy_path: Path, proposed: Mapping[Path, str]) -> tuple[list[str], list[str]]:
    base = policy_path.parent
    try:
        shadow = Path(tempfile.mkdtemp(prefix=".pm-check-", dir=base))
    except OSError as exc:
        raise PolicyEditError(
            f"cannot check the change ({exc.strerror or exc}): the console needs to write in "
            f"{base}"
        ) from None
    try:
        copy = _copy_with_trust(policy_path, shadow)
        policy = copy / policy_path.name
        before = {str(p) for p in Policy.validate(policy)}
        for path, text in proposed.items():
            target = copy / path.resolve().relative_to(base.resolve())
            target.unlink(missing_ok=True)  # never write through a hard link to the real file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        found = [p for p in Policy.validate(policy) if str(p) not in before]
        moved = [(copy, base), (shadow, base.parent)] if copy != shadow else [(shadow, base)]
        return [str(_real(p, moved)) for p in found], lifted(policy_path, policy)
    except OSError as exc:
        raise PolicyEditError(f"cannot check the change ({exc.strerror or exc})") from None
    finally:
        shutil.rmtree(shadow, ignore_errors=True)


def _copy_with_trust(policy_path: Path, shadow: Path) -> Path:
    """Mirror the policy folder into `shadow`; the folder of the copy's policy is returned.

    A school's policy that `extends: ../trust/policy.yaml` must be checked against the trust's
    real floor, so the copy keeps the layout: `shadow/<school>/` is the school's folder and
    `shadow/<trust>/` the trust's, beside it as on disk. A policy that extends nothing is
    mirrored into `shadow` itself."""
    base = policy_path.parent.resolve()
    chain = []
    spec = read_policy(policy_path).base
    while spec is not None:
        chain.append(spec.path.parent.resolve())
        spec = spec.base
    beside = [f for f in chain if f != base and f.is_relative_to(base.parent)]
    if not beside:
        _mirror(base, shadow)
        return shadow
    copy = shadow / base.name
    _mirror(base, copy)
    for folder in dict.fromkeys(beside):
        # The trust's folder may hold the schools' folders: this school's is copied already.
        _mirror(folder, shadow / folder.relative_to(base.parent), leave_out=base)
    return copy


MIRROR_COPY_MAX = 64 * 1024 * 1024  # across file systems, larger files are left out


def _mirror(base: Path, shadow: Path, leave_out: Path | None = None) -> None:
    """Hard-link every file under `base` (hidden ones and `leave_out` aside) into `shadow`,
    links as links."""
    for folder, dirs, files in os.walk(base):
        dirs[:] = [
            d for d in dirs if not d.startswith(".") and Path(folder, d).resolve() != leave_out
        ]
        here = Path(folder)
        target = shadow / here.relative_to(base)
        target.mkdir(parents=True, exist_ok=True)
        for name in files:
            if name.startswith("."):
                continue
            source = here / name
            try:
                if source.is_symlink():
                    os.symlink(os.readlink(source), target / name)
                    continue
                os.link(source, target / name)
            except OSError:
                try:
                    if source.stat().st_size <= MIRROR_COPY_MAX:
                        shutil.copyfile(source, target / name)
                except OSError:
                    continue  # unreadable: missing in the copy before and after alike
        for name in dirs:
            if (here / name).is_symlink():
                os.symlink(os.readlink(here / name), target / name)
        dirs[:] = [d for d in dirs if not (here / d).is_symlink()]


def _real(problem: ListProblem, moved: list[tuple[Path, Path]]) -> ListProblem:
    """A problem found in the copy, naming the real files (`moved`: copy, real; innermost
    first)."""
    pairs = []
    for copy, real in moved:
        pairs += [(str(copy.resolve()), str(real.resolve())), (str(copy), str(real))]
        shown, real_shown = display_name(copy), display_name(real)
        pairs.append((shown + "/", "") if real_shown == "." else (shown, real_shown))

    def fix(text: str) -> str:
        for old, new in pairs:
            text = text.replace(old, new)
        return text

    return ListProblem(fix(problem.file), problem.line, fix(problem.reason))


def _split(path: Path, text: str, key: str) -> tuple[str, dict[str, Any]]:
    """The comment lines at the top (kept verbatim) and the data below them."""
    lines = text.splitlines(keepends=True)
    header_lines = []
    for line in lines:
        if line.startswith("#") or not line.strip():
            header_lines.append(line)
            continue
        break
    try:
        data = yaml.safe_load(text) if text.strip() else {}
    except yaml.YAMLError as exc:
        raise PolicyEditError(
            f"{path}: not valid YAML ({exc}): fix the file by hand first"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyEditError(f"{path}: expected `{key}:` at the top: fix the file by hand first")
    header = "".join(header_lines)
    if header and not header.endswith("\n"):
        header += "\n"
    return header, data


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def purge_ended_exemptions(policy_path: Path, retention_days: int, today: date) -> int:
    """The retention purge's reach into the policy files: study exemptions the console wrote
    that ended more than `retention_days` ago go from the exemptions file (they may name
    pupils, by user name or class list, and once over they are no longer policy). Returns how
    many went. A file that cannot be read or parsed is left alone for IT staff to fix."""
    try:
        path = exemptions_file(policy_path)
    except PolicyEditError:  # no readable policy here: nothing the console wrote to purge
        return 0
    if not path.exists():
        return 0
    cutoff = today - timedelta(days=retention_days)
    with _LOCK:
        try:
            header, data = _split(path, path.read_text(encoding="utf-8"), "exemptions")
        except (OSError, PolicyEditError):
            return 0
        items = data.get("exemptions") or []
        if not isinstance(items, list):
            return 0
        kept = [item for item in items if not _ended_before(item, cutoff)]
        if len(kept) == len(items):
            return 0
        data["exemptions"] = kept
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        _write_atomic(path, header + body)
        return len(items) - len(kept)


def _ended_before(item: Any, cutoff: date) -> bool:
    if not isinstance(item, dict):
        return False
    try:
        return date.fromisoformat(str(item.get("ends", ""))) < cutoff
    except ValueError:
        return False
