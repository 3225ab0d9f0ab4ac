"""What of an event a console user is shown: identities only for roles allowed to see them.

Handlers never pass store rows to templates; they pass these views, so a template cannot show a
field the role may not see, whatever it is asked to render.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from monitor.console.roles import Pseudonyms, sees_identities, sees_search_terms
from monitor.store.details import FoldedDetails
from monitor.store.models import AuditEntry, Event

HIDDEN = "(hidden)"


@dataclass(frozen=True, slots=True)
class EventView:
    event_id: str
    school: str
    source: str
    kind: str
    action: str
    category: str
    severity: int
    rule: str
    rule_source: str
    url: str
    host: str
    reason: str
    search_terms: str
    user: str  # the name, or a pseudonym
    who: str  # the best identity, labelled: "pupil.a", "device lab-pc-01", "address 10.0.0.21"
    device: str
    client_ip: str
    group: str
    policy_version: str
    first_seen: datetime
    last_seen: datetime
    repeat_count: int
    status: str
    assignee: str
    referral_ref: str
    identified: bool  # whether `user` is the real name


@dataclass(frozen=True, slots=True)
class AuditView:
    at: datetime
    actor: str
    action: str
    from_value: str
    to_value: str
    note: str


def best_identity(user: str | None, device: str | None, client_ip: str | None) -> tuple[str, str]:
    """(kind, value): the user, else the device (the device map's name), else the address."""
    if user:
        return "user", user
    if device:
        return "device", device
    return "address", client_ip or ""


def who_of(event: Event, identified: bool, pseudonyms: Pseudonyms) -> str:
    kind, value = best_identity(event.user, event.device, event.client_ip)
    if not value:
        return "—"
    if not identified:
        return pseudonyms(value, kind, event.school)
    return value if kind == "user" else f"{kind} {value}"


def event_view(event: Event, role: str, pseudonyms: Pseudonyms) -> EventView:
    identified = sees_identities(role)
    who = who_of(event, identified, pseudonyms)
    return EventView(
        event_id=event.event_id,
        school=event.school,
        source=event.source,
        kind=event.kind,
        action=event.action,
        category=event.category or "",
        severity=event.severity,
        rule=event.rule or "",
        rule_source=event.rule_source or "",
        url=event.url or "",
        host=event.host or "",
        reason=event.reason or "",
        search_terms=event.search_terms or "",
        user=(event.user or "") if identified else who,
        who=who,
        device=(event.device or "") if identified else HIDDEN,
        client_ip=(event.client_ip or "") if identified else HIDDEN,
        group=event.group or "",
        policy_version=event.policy_version or "",
        first_seen=event.first_seen,
        last_seen=event.last_seen,
        repeat_count=event.repeat_count,
        status=event.status,
        assignee=event.assignee or "",
        referral_ref=(event.referral_ref or "") if identified else HIDDEN,
        identified=identified,
    )


def audit_view(entry: AuditEntry, role: str) -> AuditView:
    """Notes may name pupils: only roles that see identities read them."""
    identified = sees_identities(role)
    return AuditView(
        at=entry.at,
        actor=entry.actor,
        action=entry.action,
        from_value=entry.from_value or "",
        to_value=entry.to_value or "",
        note=(entry.note or "") if identified else (HIDDEN if entry.note else ""),
    )


@dataclass(frozen=True, slots=True)
class Seen:
    """One distinct search term or path of a folded event's visits."""

    value: str
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class FoldedView:
    """Every distinct search term and path the visits of an event had, and how many visits
    had a value past the store's bound (counted, not listed)."""

    terms: list[Seen]
    paths: list[Seen]
    more_terms: int
    more_paths: int
    terms_hidden: bool = False


def folded_view(folded: FoldedDetails, role: str) -> FoldedView:
    """Search terms follow the event's own `search_terms`: shown to every role that may open
    the event page (the Prevent lead, and IT staff judging a false positive by the term that
    matched), never to a role that may not. Paths carry no query string (the store drops it)."""
    paths = [Seen(*p) for p in folded.paths]
    if not sees_search_terms(role):
        return FoldedView([], paths, 0, folded.more_paths, terms_hidden=bool(folded.terms))
    return FoldedView([Seen(*t) for t in folded.terms], paths, folded.more_terms,
                      folded.more_paths)  # fmt: skip
