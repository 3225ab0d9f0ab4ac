"""Turn a `FlaggedEvent` into a row the store can always write: the writer's input hygiene.

Values come from outside (request URLs, search terms, user names from a directory) and may be
oversized, full of control characters, bytes that are not UTF-8, or strings with lone surrogates
(what Python makes of undecodable bytes). `event_row()` never raises on such values: text is made
valid UTF-8 (undecodable parts become visible `\\udcxx`/`\\xNN` escapes), control characters
become `\\xNN` escapes (PostgreSQL refuses NUL; a console must not render the others), and values
longer than their column are cut with a marker saying how long they were. The same row format is
what the spool stores, so replay writes exactly what would have been written.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import String

from monitor.events import FlaggedEvent
from monitor.schools import DEFAULT_SCHOOL_ID, UNKNOWN_SCHOOL, Schools
from monitor.store.models import Event, ReviewStatus

# Column lengths straight from the model, so truncation and the schema cannot disagree.
LIMITS: dict[str, int] = {
    column.key: column.type.length
    for column in Event.__table__.columns
    if isinstance(column.type, String) and column.type.length
}

# FlaggedEvent field -> events column. Rows are keyed by column name (`user_name`, `group_name`:
# `user` and `group` are SQL keywords), so they can go straight into a Core INSERT.
TEXT_FIELDS = {
    "source": "source", "kind": "kind", "action": "action", "category": "category",
    "rule": "rule", "rule_source": "rule_source", "url": "url", "host": "host",
    "reason": "reason", "search_terms": "search_terms", "user": "user_name",
    "device": "device", "client_ip": "client_ip", "group": "group_name",
    "policy_version": "policy_version",
}  # fmt: skip

ONE_SCHOOL = Schools({DEFAULT_SCHOOL_ID: DEFAULT_SCHOOL_ID})  # a single school's store

# C0 controls, DEL and C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _escape_control(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"


def truncate(value: str, limit: int) -> str:
    """Cut `value` to at most `limit` characters, ending with a marker that says so."""
    if len(value) <= limit:
        return value
    marker = f"…[truncated, {len(value)} chars]"
    return value[: max(0, limit - len(marker))] + marker[:limit]


def safe_text(value: Any, limit: int) -> str | None:
    """Any value as storable text of at most `limit` characters (None stays None)."""
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", "backslashreplace")
    elif not isinstance(value, str):
        value = str(value)
    if not value.isascii():
        # Lone surrogates cannot be encoded: make them visible escapes instead.
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    if not value.isprintable():
        value = _CONTROL.sub(_escape_control, value)
    return truncate(value, limit)


def safe_time(value: Any) -> datetime:
    if not isinstance(value, datetime):
        return datetime.now(UTC)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def safe_severity(value: Any) -> int:
    try:
        return min(4, max(0, int(value)))
    except (TypeError, ValueError, OverflowError):
        return 0


def fold_hash(key: tuple[Any, ...]) -> str:
    """A fixed-width digest of `FlaggedEvent.fold_key()` for the folding index."""
    text = "\x1f".join("" if part is None else str(part) for part in key)
    return hashlib.sha1(text.encode("utf-8", "backslashreplace"), usedforsecurity=False).hexdigest()


def event_row(event: FlaggedEvent, schools: Schools | None = None) -> dict[str, Any]:
    """The `events` row for one event (repeat count 1, review status new), under its school:
    the event's own if `schools` knows it, else "unknown" (never dropped, never another
    school's); an event that names none is `schools.own`'s."""
    row: dict[str, Any] = {
        column: safe_text(getattr(event, field, None), LIMITS[column])
        for field, column in TEXT_FIELDS.items()
    }
    when = safe_time(getattr(event, "when", None))
    row["event_id"] = safe_text(event.id, LIMITS["event_id"]) or ""
    row["source"] = row["source"] or "gateway"
    row["kind"] = row["kind"] or "url"
    row["action"] = row["action"] or "flag"
    row["reason"] = row["reason"] or ""
    row["severity"] = safe_severity(getattr(event, "severity", 0))
    row["first_seen"] = row["last_seen"] = when
    row["repeat_count"] = 1
    row["status"] = ReviewStatus.NEW.value
    row["school"] = _school_of(event, row, schools or ONE_SCHOOL)
    # One fold key per school: the same user name at two schools is two pupils.
    row["fold_key"] = fold_hash((row["school"], *event.fold_key()))
    return row


def _school_of(event: FlaggedEvent, row: dict[str, Any], schools: Schools) -> str:
    named = safe_text(getattr(event, "school", None), 32)
    school = schools.stored_as(named)
    if school == UNKNOWN_SCHOOL and named not in (None, UNKNOWN_SCHOOL):
        note = f" [stored under 'unknown school': {named!r} is not in this configuration]"
        row["reason"] = truncate(row["reason"] + note, LIMITS["reason"])
    return school


def row_to_json(row: dict[str, Any]) -> dict[str, Any]:
    """The spool's form of a row: datetimes as ISO text."""
    return {
        key: value.isoformat() if isinstance(value, datetime) else value
        for key, value in row.items()
    }


def row_from_json(data: dict[str, Any], default_school: str) -> dict[str, Any]:
    """A spooled row back as a row; raises ValueError/KeyError/TypeError on a damaged record.
    A row spooled before schools existed is `default_school`'s (the spooling part's own)."""
    keys = (*TEXT_FIELDS.values(), "event_id", "fold_key", "status", "school")
    row = {key: data.get(key) for key in keys}
    row["school"] = safe_text(row["school"], 32) or default_school
    if not row["event_id"] or not row["fold_key"]:
        raise ValueError("spooled record without event_id or fold_key")
    row["severity"] = safe_severity(data.get("severity"))
    row["repeat_count"] = int(data.get("repeat_count") or 1)
    row["first_seen"] = safe_time(datetime.fromisoformat(data["first_seen"]))
    row["last_seen"] = safe_time(datetime.fromisoformat(data["last_seen"]))
    return row
