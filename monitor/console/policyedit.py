"""Writing an approved unblock request into the policy's local files, safely.

An allowlist entry goes into the policy's local allowlist (`local/allow.yaml`: `entries:` of
`{domain: ..., note: ...}` or `{url: ..., note: ...}`); a study exemption into the file the
policy's `exemptions:` names (`local/exemptions.yaml`). The gateway's hot reload picks either up.

Each change is written atomically (a temp file, fsync, rename), keeps the comments at the top
of the file, and is checked with `Policy.validate()`: if the policy has new problems afterwards,
the old file is put back and the problems are reported (`PolicyEditError`), nothing half-done.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

from filters.policy import Policy
from filters.policyfile import read_policy
from filters.urls import normalise_host

_LOCK = threading.Lock()  # one edit at a time per process: the read-modify-write is not atomic
EXEMPTION_ID = re.compile(r"[^a-z0-9-]+")


class PolicyEditError(Exception):
    """The change was not made; `problems` says why, in file:line form where possible."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


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
        before = {str(p) for p in Policy.validate(policy_path)}
        try:
            old_text = path.read_text(encoding="utf-8") if path.exists() else None
        except OSError as exc:
            raise PolicyEditError(f"{path}: cannot read: {exc.strerror or exc}") from None
        header, data = _split(path, old_text or "", key)
        items = data.get(key) or []
        if not isinstance(items, list):
            raise PolicyEditError(f"{path}: `{key}:` is not a list: fix the file by hand first")
        items.append(item)
        data[key] = items
        body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
        _write_atomic(path, header + body)
        problems = [str(p) for p in Policy.validate(policy_path) if str(p) not in before]
        if not problems:
            return
        if old_text is None:
            path.unlink(missing_ok=True)
        else:
            _write_atomic(path, old_text)
        raise PolicyEditError(
            f"the policy would not load with this change, so {path.name} was left as it was",
            problems,
        )


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
