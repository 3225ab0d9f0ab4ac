"""What the health page reads out of the parts' status files: each event writer's spool and
write rate, and each part's last refused policy change. Every value is checked for its type and
bounded: a status file is outside the console's control."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from monitor.console.partstatus import PartStatus, number, text, when_of

MAX_PROBLEMS = 50


@dataclass
class WriterFigures:
    """One part's event writer."""

    part: str
    database_up: bool | None
    queue_depth: int = 0
    spool_records: int = 0
    spool_bytes: int = 0
    held: int = 0
    written: int = 0
    folded: int = 0
    dropped: int = 0
    rejected: int = 0
    spool_errors: int = 0
    write_rate: float | None = None
    stale: bool = False  # from a part that is down: figures as it last wrote them

    def warnings(self) -> list[str]:
        if self.stale:
            return [f"{self.part}: {self.spool_records} event(s) in its spool"] if (
                self.spool_records
            ) else []
        found = []
        if self.database_up is False:
            found.append(
                f"{self.part}'s event writer cannot reach the database: events wait in its "
                "spool until it is back"
            )
        if self.spool_records:
            found.append(f"{self.part}: {self.spool_records} event(s) waiting in the spool")
        if self.held:
            found.append(f"{self.part}: {self.held} event(s) held in memory (the spool is full)")
        if self.dropped:
            found.append(f"{self.part} lost {self.dropped} event(s): see its log")
        if self.rejected:
            found.append(f"{self.part}: {self.rejected} event(s) refused by the database")
        return found


@dataclass
class Refusal:
    """A part's last refused policy change."""

    part: str
    at: datetime | None
    kept_version: str
    problems: list[str] = field(default_factory=list)
    more: int = 0
    current: bool = False  # still refused: the files on disk have not been fixed since


def writer_figures(parts: list[PartStatus]) -> list[WriterFigures]:
    found = []
    for part in parts:
        writer = part.status.get("writer")
        if not isinstance(writer, dict):
            continue
        rate = writer.get("write_rate")
        up = writer.get("database_up")
        found.append(
            WriterFigures(
                part=part.name,
                database_up=up if isinstance(up, bool) else None,
                queue_depth=number(writer.get("queue_depth")),
                spool_records=number(writer.get("spool_records")),
                spool_bytes=number(writer.get("spool_bytes")),
                held=number(writer.get("held")),
                written=number(writer.get("written")),
                folded=number(writer.get("folded")),
                dropped=number(writer.get("dropped")),
                rejected=number(writer.get("rejected")),
                spool_errors=number(writer.get("spool_errors")),
                write_rate=float(rate) if isinstance(rate, int | float) else None,
                stale=part.state != "up",
            )
        )
    return found


def refusals(parts: list[PartStatus]) -> list[Refusal]:
    """Each part's last refused change, newest first."""
    found = []
    for part in parts:
        refused = part.status.get("last_refused")
        if not isinstance(refused, dict):
            continue
        problems = refused.get("problems")
        shown = [text(p) for p in problems[:MAX_PROBLEMS]] if isinstance(problems, list) else []
        errors = part.status.get("errors")
        found.append(
            Refusal(
                part=part.name,
                at=when_of(refused.get("at")),
                kept_version=text(refused.get("kept_version")),
                problems=shown,
                more=number(refused.get("more_problems")),
                current=isinstance(errors, list) and bool(errors),
            )
        )
    return sorted(found, key=lambda r: r.at.timestamp() if r.at else 0.0, reverse=True)
