"""What a policy says, as plain frozen dataclasses: categories, lists, groups, study exemptions,
schedules and the whole `PolicySpec`. `filters.policyfile` reads them from `policy.yaml`;
`filters.policy` compiles them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from filters.decision import Action, Kind, Severity
from filters.lists import ListProblem

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    description: str = ""
    severity: Severity = Severity.MEDIUM
    action: Action = Action.BLOCK
    illegal: bool = False  # unlawful content (CTIRU/IWF): no allowlist or exemption lifts it
    kind: Kind = Kind.URL


@dataclass(frozen=True, slots=True)
class ListSpec:
    """One list file (or UT1/squidGuard folder member) and how its entries are used."""

    path: Path
    display: str
    format: str | None
    category: str | None
    use: str  # "block" (category lists), "search", "page", "allow"
    name: str
    line: int  # where the policy names it
    # The folder of the policy file that names it: a trust's shared list keeps its own folder,
    # the one its `.Include<...>` lines are confined to, when a school's policy inherits it.
    root: Path | None = None


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    users: frozenset[str] = frozenset()
    directory_groups: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()
    actions: dict[str, Action] = field(default_factory=dict)
    page_flag: int | None = None
    page_block: int | None = None
    safe_search: bool = True


@dataclass(frozen=True, slots=True)
class StudyExemption:
    """A teacher's time-boxed request, approved by the Prevent lead."""

    id: str
    reason: str
    approved_by: str
    groups: frozenset[str]
    categories: frozenset[str]
    sites: tuple[str, ...]  # canonical hosts; each covers its subdomains
    starts: datetime
    ends: datetime
    requested_by: str = ""
    source: str = ""
    pupils: frozenset[str] = frozenset()  # lowercased user names, named or from a class list

    def active(self, when: datetime) -> bool:
        return self.starts <= when < self.ends

    def covers(self, group: str, user: str | None) -> bool:
        """Whether it applies to this pupil: named, on its class list, or in one of its groups;
        an exemption that names no one covers everyone."""
        if not self.groups and not self.pupils:
            return True
        if group in self.groups:
            return True
        return user is not None and user.lower() in self.pupils


@dataclass(frozen=True, slots=True)
class Schedule:
    """A time-of-day rule: in the window, these groups get these actions."""

    name: str
    groups: frozenset[str]
    days: frozenset[int]
    start: time
    end: time
    actions: dict[str, Action]
    source: str = ""

    def active(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        now = local.time()
        if self.start <= self.end:
            return self.start <= now < self.end
        return now >= self.start or now < self.end  # a window across midnight


@dataclass(slots=True)
class PolicySpec:
    path: Path
    school: str = "Our school"
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/London"))
    categories: dict[str, Category] = field(default_factory=dict)
    lists: list[ListSpec] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    default_group: str = "default"
    exemptions: list[StudyExemption] = field(default_factory=list)
    schedules: list[Schedule] = field(default_factory=list)
    page_flag: int = 50
    page_block: int = 100
    problems: list[ListProblem] = field(default_factory=list)
    # Lines a school's policy states looser than the trust's (`extends:`). The trust's value is
    # what compiles, so a trust that tightens its file never stops a school's gateway; `lists
    # validate`, the console and the gateway's log report each line until the school fixes it.
    held: list[ListProblem] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)  # every file read, for the version hash
    # The trust policy this one `extends:`, as read (None for a policy that extends nothing).
    base: PolicySpec | None = None


def liftable_categories(spec: PolicySpec) -> list[str]:
    """The categories a study exemption may name (the console's approval form offers these):
    every category but those marked `illegal`, which nothing lifts."""
    return sorted(name for name, category in spec.categories.items() if not category.illegal)


# Categories the engine itself decides (hosts that cannot be listed); a policy may override them.
BUILTIN_CATEGORIES = {
    "malformed-host": Category(
        "malformed-host",
        "A web address whose host name is broken or disguised",
        Severity.MEDIUM,
        Action.BLOCK,
        kind=Kind.CIRCUMVENTION,
    ),
    "obfuscated-ip": Category(
        "obfuscated-ip",
        "A numeric address written in a disguised form (decimal, hex or octal)",
        Severity.MEDIUM,
        Action.BLOCK,
        kind=Kind.CIRCUMVENTION,
    ),
    "ip-literal": Category(
        "ip-literal",
        "A site reached by its numeric address instead of its name",
        Severity.LOW,
        Action.FLAG,
        kind=Kind.CIRCUMVENTION,
    ),
}
