"""What the gateway and the brand-alert watcher hand to the events store.

A `FlaggedEvent` is a small immutable record (in the manner of Datasette's events): made on the
request path or in the watcher, handed to the store's writer without waiting, and written later.
It never carries a page body. Review state, repeat counts and the audit trail belong to the store.
`EventSink` is what a producer needs of the store's `EventWriter`; `utcnow()` is the one clock
events are timestamped with.

A `ContextVisit` is smaller still: who, when, which host and what the gateway did, for the
optional host-only context log (no path, no query, no page body). `identity_of()` names who, the
same way for events, alerts and the context log: the user, else the device, else the address.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from filters.decision import Action, Decision, Kind


class Source(StrEnum):
    """Which part saw it (the event's `source`)."""

    GATEWAY = "gateway"
    BRAND_WATCH = "brand-watch"


SOURCES = tuple(s.value for s in Source)


def new_event_id() -> str:
    """A stable unique id, made where the event is born so that replay is idempotent."""
    return uuid.uuid4().hex


def utcnow() -> datetime:
    """Now, in UTC: the time every event, block page and status file is stamped with."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FlaggedEvent:
    """One thing the Prevent lead may need to look at (DESIGN.md contract 4)."""

    # Enums of str: stored (and compared) as their plain values, e.g. "gateway", "url", "block".
    source: Source
    kind: Kind  # url, search, page, circumvention, mention, policy
    action: Action  # block | flag | study (| allow for a mention below threshold)
    category: str | None
    severity: int  # filters.decision.Severity value
    rule: str | None
    url: str | None
    host: str | None
    reason: str = ""
    rule_source: str | None = None  # list file:line
    search_terms: str | None = None
    user: str | None = None
    device: str | None = None
    client_ip: str | None = None
    group: str | None = None
    policy_version: str | None = None
    school: str | None = None  # a school id (monitor.schools); None: the writer's own school
    when: datetime = field(default_factory=utcnow)
    id: str = field(default_factory=new_event_id)

    def __post_init__(self) -> None:
        # Events read back from elsewhere (a spool, a test) may name these by their values.
        object.__setattr__(self, "source", Source(self.source))
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "action", Action(self.action))

    @classmethod
    def from_decision(
        cls,
        decision: Decision,
        *,
        source: Source = Source.GATEWAY,
        user: str | None = None,
        device: str | None = None,
        client_ip: str | None = None,
        when: datetime | None = None,
    ) -> FlaggedEvent:
        return cls(
            source=source,
            kind=decision.kind,
            action=decision.action,
            category=decision.category,
            severity=int(decision.severity),
            rule=decision.rule,
            url=decision.url,
            host=decision.host,
            reason=decision.reason,
            rule_source=decision.source,
            search_terms=decision.search_terms,
            user=user,
            device=device,
            client_ip=client_ip,
            group=decision.group,
            policy_version=decision.policy_version,
            when=when or utcnow(),
        )

    def fold_key(self) -> tuple[str | None, ...]:
        """Repeats of the same thing by the same person fold into one event (store issue #3)."""
        who = self.user or self.device or self.client_ip
        return (self.source.value, who, self.rule, self.host, self.action.value)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["when"] = self.when.isoformat()
        for name in ("source", "kind", "action"):
            data[name] = data[name].value
        return data


class EventSink(Protocol):
    """What the gateway and the watcher need of the store's `EventWriter`."""

    def submit(self, event: FlaggedEvent) -> None: ...


def identity_of(user: str | None, device: str | None, client_ip: str | None) -> str:
    """Who, as one string: `user:x`, else `device:x`, else `address:x`."""
    if user:
        return f"user:{user}"
    if device:
        return f"device:{device}"
    return f"address:{client_ip or 'unknown'}"


class ContextVisit(NamedTuple):
    """One request for the host-only context log: never a path, a query or a page body."""

    when: datetime
    identity: str  # identity_of(...)
    host: str
    action: str  # block | flag | study | allow
