"""The answer the policy engine gives for one request: `Decision`, with the words a person needs.

Everything here is immutable and free of I/O so that a `Decision` can cross threads, be cached
and be turned into an event or a JSON line without surprises.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any, NamedTuple


class Action(StrEnum):
    """What the gateway does. Precedence (DESIGN.md contract 3): allow beats block beats flag;
    study is an allow that is recorded."""

    ALLOW = "allow"
    STUDY = "study"
    FLAG = "flag"
    BLOCK = "block"

    @property
    def strength(self) -> int:
        """How much the action does: allow < study < flag < block."""
        return _STRENGTH[self]


_STRENGTH = {Action.ALLOW: 0, Action.STUDY: 1, Action.FLAG: 2, Action.BLOCK: 3}


class Severity(IntEnum):
    """How worried the Prevent lead should be. Stored as an integer so the console can rank
    users by severity times frequency."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @classmethod
    def parse(cls, value: str | int) -> Severity:
        if isinstance(value, int):
            return cls(value)
        try:
            return cls[value.strip().upper()]
        except KeyError:
            raise ValueError(
                f"unknown severity {value!r}: use one of {', '.join(s.name.lower() for s in cls)}"
            ) from None


class Kind(StrEnum):
    """What triggered a decision (the event's `kind`)."""

    URL = "url"  # a list entry matched the host or URL
    SEARCH = "search"  # a search term matched a phrase list
    PAGE = "page"  # the page text scored over a threshold
    CIRCUMVENTION = "circumvention"  # DoH, VPN/proxy sites, IP-literal or malformed hosts
    MENTION = "mention"  # the brand-alert watcher found the school named
    POLICY = "policy"  # a warning for IT staff (a bad list change, a filter fault)


class Step(StrEnum):
    """The precedence step that decided (docs/policy.md, "Precedence"): what a person testing a
    URL needs to know to change the answer."""

    ILLEGAL = "illegal"  # 1: an illegal-content category; nothing lifts it
    ALLOWLIST = "allowlist"  # 2: lifted to study by the legitimate-study allowlist
    EXEMPTION = "exemption"  # 2: lifted to study by a study exemption
    SCHEDULE = "schedule"  # 3: a schedule in force set the group's action
    GROUP = "group"  # 3: the group's action for the category (else the category's own)
    NONE = "none"  # 4: nothing matched, or every match is allowed for the group

    @property
    def number(self) -> int:
        return _STEP_NUMBERS[self]


_STEP_NUMBERS = {
    Step.ILLEGAL: 1, Step.ALLOWLIST: 2, Step.EXEMPTION: 2, Step.SCHEDULE: 3, Step.GROUP: 3,
    Step.NONE: 4,
}  # fmt: skip


class Lift(NamedTuple):
    """While deciding: the step that set a hit's action and, when it was lifted to study, why
    (for the reason) and by which exemption."""

    why: str
    step: Step
    exemption: str | None = None


class HostVerdict(NamedTuple):
    """A `Decision` cut to what a Squid helper answers with: the action, and the category and
    rule its block page names. `kept` says no user and no time can change it for the host."""

    action: Action
    category: str | None
    rule: str | None
    kept: bool


class Decision(NamedTuple):
    """One immutable answer: what to do, and exactly why. A NamedTuple rather than a frozen
    dataclass: the gateway makes one per request, and this is four times cheaper to build."""

    action: Action
    url: str
    host: str
    category: str | None = None
    severity: Severity = Severity.NONE
    kind: Kind = Kind.URL
    rule: str | None = None  # stable rule id, e.g. "domain:bad.test" or "search:proscribed/12"
    source: str | None = None  # "file:line" of the list entry that decided it
    reason: str = "no rule matched"
    search_terms: str | None = None
    via: str | None = None  # the embedded target URL when decided through a redirector
    group: str | None = None
    policy_version: str = ""
    illegal: bool = False  # an illegal-content category: nothing can lift it
    matched: tuple[str, ...] = ()  # phrases that matched
    step: Step = Step.NONE  # the precedence step that decided
    exemption: str | None = None  # the id of the study exemption that lifted it, if one did

    @property
    def blocks(self) -> bool:
        return self.action is Action.BLOCK

    @property
    def recorded(self) -> bool:
        """Block, flag and study are recorded; a plain allow is not."""
        return self.action is not Action.ALLOW

    def for_url(self, url: str) -> Decision:
        """The same decision naming another URL (of the same host): for `HostAnswers`."""
        return Decision._make((self.action, url, *self[2:]))

    def as_json(self) -> dict[str, Any]:
        """The `prevent-monitor check` line: stable keys, plain values. Built by hand, not with
        `dataclasses.asdict`, which deep-copies and is the slowest part of `check --stdin`.
        An enum's `_value_` is its plain value without the `value` property's call."""
        return {
            "action": self.action._value_,
            "url": self.url,
            "host": self.host,
            "category": self.category,
            "severity": _SEVERITY_NAMES[self.severity],
            "kind": self.kind._value_,
            "rule": self.rule,
            "source": self.source,
            "reason": self.reason,
            "search_terms": self.search_terms,
            "via": self.via,
            "group": self.group,
            "policy_version": self.policy_version,
            "illegal": self.illegal,
            "matched": list(self.matched),
            "step": self.step._value_,
            "exemption": self.exemption,
        }


_SEVERITY_NAMES = {s: s.name.lower() for s in Severity}


def stronger(first: Decision, second: Decision) -> Decision:
    """The decision that does more (block, then flag, then study); the first on a tie."""
    return second if second.action.strength > first.action.strength else first
