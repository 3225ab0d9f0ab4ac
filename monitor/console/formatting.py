"""How the console writes times, severities and statuses: Jinja filters and CSV cell safety."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from filters.decision import Severity
from monitor.store.models import ReviewStatus

STATUS_NAMES = {
    ReviewStatus.NEW.value: "New",
    ReviewStatus.IN_REVIEW.value: "In review",
    ReviewStatus.ESCALATED.value: "Escalated",
    ReviewStatus.REFERRED.value: "Referred",
    ReviewStatus.CLOSED_NO_CONCERN.value: "Closed: no concern",
    ReviewStatus.FALSE_POSITIVE.value: "False positive",
}


def severity_name(value: int | None) -> str:
    try:
        return Severity(int(value or 0)).name.lower()
    except ValueError:
        return str(value)


def status_name(value: str | None) -> str:
    return STATUS_NAMES.get(value or "", value or "")


def local_time(value: datetime | None, zone: ZoneInfo, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    if value is None:
        return ""
    return value.astimezone(zone).strftime(fmt)


def csv_cell(value: Any) -> str:
    """Text for a CSV cell that a spreadsheet will not run as a formula (URLs and search terms
    come from outside)."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def install(env: jinja2.Environment, zone: ZoneInfo) -> None:
    env.filters["severity_name"] = severity_name
    env.filters["status_name"] = status_name
    env.filters["when"] = lambda v, fmt="%Y-%m-%d %H:%M:%S": local_time(v, zone, fmt)
    env.globals["zone_name"] = str(zone)
    env.globals["severities"] = [(int(s), s.name.lower()) for s in Severity]
    env.globals["statuses"] = list(STATUS_NAMES.items())
