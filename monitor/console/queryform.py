"""Reading the queue's filter form (a GET query string) into an `EventFilter`, never raising.

Bad values from the address bar are dropped with a note the page shows, not turned into errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from multidict import MultiMapping

from filters.decision import Kind
from monitor.events import SOURCES
from monitor.store.models import ReviewStatus
from monitor.store.queries import SORTS, EventFilter

STATUSES = tuple(s.value for s in ReviewStatus)
KINDS = tuple(k.value for k in Kind)
MAX_TEXT = 200


@dataclass
class QueueQuery:
    flt: EventFilter
    sort: str = "last_seen"
    ascending: bool = False
    after: str | None = None
    values: dict[str, Any] = field(default_factory=dict)  # to fill the form back in
    problems: list[str] = field(default_factory=list)

    def link(self, **changes: Any) -> str:
        """The query string for this filter with `changes` (None removes a key)."""
        params: list[tuple[str, str]] = []
        merged = {**self.values, **changes}
        for key, value in merged.items():
            if value in (None, "", []):
                continue
            if isinstance(value, list):
                params.extend((key, str(v)) for v in value)
            else:
                params.append((key, str(value)))
        return "?" + urlencode(params) if params else "?"


def parse_queue_query(
    query: MultiMapping[str], zone: ZoneInfo, *, allow_identity_filters: bool
) -> QueueQuery:
    problems: list[str] = []
    values: dict[str, Any] = {}

    def pick(name: str, allowed: tuple[str, ...]) -> list[str]:
        chosen = [v for v in query.getall(name, []) if v]
        bad = [v for v in chosen if v not in allowed]
        if bad:
            problems.append(f"ignored unknown {name} {', '.join(map(repr, bad[:3]))}")
        good = [v for v in chosen if v in allowed]
        values[name] = good
        return good

    statuses = pick("status", STATUSES)
    kinds = pick("kind", KINDS)
    sources = pick("source", SOURCES)
    category = _text(query.get("category"), 128)
    group = _text(query.get("group"), 128)
    school = _text(query.get("school"), 32)
    text = _text(query.get("q"), MAX_TEXT)
    values.update(category=category, group=group, q=text, school=school)
    min_severity = None
    raw_severity = query.get("severity", "")
    if raw_severity:
        if raw_severity.isdigit() and 0 <= int(raw_severity) <= 4:
            min_severity = int(raw_severity)
            values["severity"] = raw_severity
        else:
            problems.append(f"ignored severity {raw_severity[:20]!r}: use 0 to 4")
    since = _day(query.get("since"), "since", zone, problems)
    until = _day(query.get("until"), "until", zone, problems)
    values["since"] = query.get("since", "") if since else ""
    values["until"] = query.get("until", "") if until else ""
    user, device, address = _identities(query, values) if allow_identity_filters else ("",) * 3
    sort = query.get("sort", "last_seen")
    if sort not in SORTS:
        problems.append(f"ignored sort {sort[:20]!r}")
        sort = "last_seen"
    ascending = query.get("order") == "asc"
    values.update(sort=sort if sort != "last_seen" else "", order="asc" if ascending else "")
    flt = EventFilter(
        statuses=statuses,
        min_severity=min_severity,
        kinds=kinds,
        sources=sources,
        categories=[category] if category else [],
        schools=[school] if school else [],
        group=group or None,
        user=user or None,
        device=device or None,
        client_ip=address or None,
        since=since,
        until=until + timedelta(days=1) if until else None,
        text=text or None,
    )
    after = _text(query.get("after"), 512) or None
    return QueueQuery(flt, sort, ascending, after, values, problems)


def _identities(query: MultiMapping[str], values: dict[str, Any]) -> tuple[str, str, str]:
    """The user, device and address filters (the ranking links to each)."""
    found = tuple(_text(query.get(name), 128) for name in ("user", "device", "address"))
    for name, value in zip(("user", "device", "address"), found, strict=True):
        if value:
            values[name] = value
    return found[0], found[1], found[2]


def _text(value: str | None, limit: int) -> str:
    return (value or "").strip()[:limit]


def _day(value: str | None, name: str, zone: ZoneInfo, problems: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        problems.append(f"ignored {name} {value[:20]!r}: use a date like 2026-03-31")
        return None
    return datetime.combine(day, time(0), zone)
