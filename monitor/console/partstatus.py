"""The parts' status files, read for the health page: is each part up, down, or unknown, and
when was it last heard from.

Each gateway process writes its status file (`console.gateway_status_file`, default
`<data_dir>/gateway-status.json`; instance N of a scale-out writes `gateway-status-N.json`
beside it) and the watcher writes `<data_dir>/watcher-status.json`, every few seconds while it
runs and once more when it stops (`monitor.policyreload`; the keys are in docs/gateway.md).
A part is *up* when its file was written within `STALE_AFTER` seconds, *down* when it stopped
or went quiet for longer, and *unknown* when there is no file to read (never started here, or
runs on another machine). Everything here only reads files: no database, no network.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.policyreload import STATUS_EVERY

STALE_AFTER = 3 * STATUS_EVERY + 15  # three heartbeats missed, and a margin for a busy machine
MAX_INSTANCES = 64
MAX_STATUS_BYTES = 1 << 20  # a status file is a few KB; anything larger is not one
MAX_SHOWN = 500  # characters of any one text from a status file


@dataclass
class PartStatus:
    """One part as the health page shows it."""

    name: str
    state: str  # up | down | unknown
    detail: str
    path: str = ""
    heard: datetime | None = None
    age_seconds: float | None = None
    status: dict[str, Any] = field(default_factory=dict)  # the file's JSON, when it was read

    @property
    def last_heard(self) -> str:
        return f"last heard {ago(self.age_seconds)}" if self.age_seconds is not None else ""


def read_status_file(path: Path) -> tuple[dict[str, Any], str]:
    """The file's JSON object and "", or {} and why it could not be read."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_STATUS_BYTES + 1)
    except FileNotFoundError:
        return {}, f"no status file at {path} yet"
    except OSError as exc:
        return {}, f"cannot read {path}: {exc.strerror or exc}"
    if len(raw) > MAX_STATUS_BYTES:
        return {}, f"{path} is too large to be a status file"
    try:
        data = json.loads(raw)
    except ValueError as exc:
        return {}, f"{path} is not JSON: {exc}"
    return (data, "") if isinstance(data, dict) else ({}, f"{path}: expected a JSON object")


def gateway_files(base: Path) -> list[tuple[str, Path]]:
    """(name, path) of the gateway's status file and every scale-out instance's beside it."""
    found = [("Gateway", base)]
    pattern = re.compile(rf"{re.escape(base.stem)}-([1-9][0-9]{{0,3}}){re.escape(base.suffix)}")
    instances: list[tuple[int, Path]] = []
    try:
        for path in base.parent.iterdir():
            match = pattern.fullmatch(path.name)
            if match:
                instances.append((int(match.group(1)), path))
    except OSError:
        return found
    for number, path in sorted(instances)[:MAX_INSTANCES]:
        found.append((f"Gateway instance {number}", path))
    return found


def part_from_file(name: str, path: Path, now: datetime) -> PartStatus:
    status, problem = read_status_file(path)
    if problem:
        return PartStatus(name, "unknown", problem, str(path))
    heard = when_of(status.get("written"))
    if heard is None:
        return PartStatus(name, "unknown", f"{path} does not say when it was written", str(path))
    age = max(0.0, (now - heard).total_seconds())
    part = PartStatus(name, "up", "", str(path), heard, age, status)
    stopped = when_of(status.get("stopped"))
    if stopped is not None:
        since = max(0.0, (now - stopped).total_seconds())
        part.state, part.detail = "down", f"stopped {ago(since)} (shut down cleanly)"
    elif age > STALE_AFTER:
        part.state = "down"
        part.detail = f"silent for {duration(age)}: it stopped or cannot write its status file"
    else:
        pid = status.get("pid")
        part.detail = f"running (process {pid})" if isinstance(pid, int) else "running"
    return part


def versions_in_force(base: Path, now: datetime) -> tuple[str, ...]:
    """The policy versions the gateways that are up report in force (each once)."""
    parts = [part_from_file(name, path, now) for name, path in gateway_files(base)]
    versions = (text(p.status.get("policy_version")) for p in parts if p.state == "up")
    return tuple(dict.fromkeys(v for v in versions if v))


def text(value: Any) -> str:
    """A value from a status file as bounded text (the file is outside the console's control)."""
    return str(value)[:MAX_SHOWN] if value is not None else ""


def number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def ago(seconds: float | None) -> str:
    """'12 s ago', '3 min ago', '2 h ago', '4 days ago'."""
    return "never" if seconds is None else f"{duration(seconds)} ago"


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def when_of(value: Any) -> datetime | None:
    """An aware ISO 8601 time from a status file, else None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else None
