"""Counting what a proposed policy change would do, as counts only.

`Tally` takes each changed request (its `filters.replay.Change`, host, number of requests and
who made it) and `result()` turns them into an `ImpactResult`: per change (allow → block,
block → study, ...) and category, how many hosts, requests and distinct people, and the hosts
hit hardest. People are counted, never named: the tally numbers each identity it is given and
the result holds only how many numbers each count saw, so nothing in it can name a pupil, a
device or an address, whoever looks at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from filters.decision import Action
from filters.replay import Change

TOP_HOSTS = 10  # hosts listed per change and category (hosts are not personal data)
NEWLY_BLOCKED, NEWLY_ALLOWED, RECORDED = "newly blocked", "newly allowed", "recorded differently"
HEADINGS = (NEWLY_BLOCKED, NEWLY_ALLOWED, RECORDED)


def heading_of(before: Action, after: Action) -> str:
    """Newly blocked (→ block); newly allowed (block → anything else: flag and study let the
    page through); else the change is only in what is recorded (flag, study, allow)."""
    if after is Action.BLOCK:
        return NEWLY_BLOCKED
    if before is Action.BLOCK:
        return NEWLY_ALLOWED
    return RECORDED


@dataclass(frozen=True, slots=True)
class HostLine:
    host: str
    requests: int
    people: int
    source: str  # the list file:line that made the difference


@dataclass(frozen=True, slots=True)
class ImpactRow:
    before: Action
    after: Action
    category: str
    hosts: int
    requests: int
    people: int
    top: tuple[HostLine, ...]

    @property
    def heading(self) -> str:
        return heading_of(self.before, self.after)


@dataclass(frozen=True, slots=True)
class Headline:
    hosts: int = 0
    requests: int = 0
    people: int = 0


@dataclass(frozen=True, slots=True)
class ImpactResult:
    """What a change would have done over a period: counts, hosts and rules; no identities."""

    since: datetime
    until: datetime
    seconds: float
    context_rows: int  # context-log rows read
    context_requests: int  # the requests they fold
    events: int  # events read
    event_visits: int  # the visits they fold
    looked_up: int  # distinct hosts and URLs looked up in both policies' lists
    decisions: int  # distinct cases (listed ones) decided by both policies
    context_from: datetime | None  # where the context log starts (None: it is off or empty)
    unlogged_events: int  # events from before it starts: the log was off then
    rows: tuple[ImpactRow, ...]
    headlines: dict[str, Headline] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.rows)


@dataclass(slots=True)
class _HostCount:
    requests: int = 0
    people: set[int] = field(default_factory=set)
    source: str = ""


class Tally:
    """Changed requests, counted as they stream past (see the module docstring)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}
        self._rows: dict[tuple[Action, Action, str], dict[str, _HostCount]] = {}

    def person(self, identity: str) -> int:
        """A number for an identity, the same each time: all the tally keeps of who it was."""
        number = self._numbers.get(identity)
        if number is None:
            number = self._numbers[identity] = len(self._numbers)
        return number

    def add(self, change: Change, host: str, requests: int, person: int) -> None:
        hosts = self._rows.setdefault((change.before, change.after, change.category), {})
        count = hosts.get(host)
        if count is None:
            count = hosts[host] = _HostCount(source=change.source)
        count.requests += requests
        count.people.add(person)

    def rows(self, rename: Callable[[str], str] = str) -> tuple[ImpactRow, ...]:
        """The counts, newly blocked first, then by requests; `rename` turns a list file
        name as the proposed policy read it into the one IT staff know."""
        rows = [_row(key, hosts, rename) for key, hosts in self._rows.items()]
        rows.sort(key=lambda r: (HEADINGS.index(r.heading), -r.requests, r.category))
        return tuple(rows)

    def headlines(self) -> dict[str, Headline]:
        """Per heading: distinct hosts, requests and distinct people across its categories."""
        hosts_of: dict[str, set[str]] = {}
        requests_of: dict[str, int] = {}
        people_of: dict[str, set[int]] = {}
        for (before, after, _category), hosts in self._rows.items():
            heading = heading_of(before, after)
            hosts_of.setdefault(heading, set()).update(hosts)
            people = people_of.setdefault(heading, set())
            for count in hosts.values():
                requests_of[heading] = requests_of.get(heading, 0) + count.requests
                people.update(count.people)
        return {
            heading: Headline(len(hosts_of[heading]), requests_of[heading], len(people_of[heading]))
            for heading in HEADINGS
            if heading in hosts_of
        }

    def forget_people(self) -> None:
        """Drop the identities once the counts are made: the result never needed them."""
        self._numbers.clear()


def _row(
    key: tuple[Action, Action, str], hosts: dict[str, _HostCount], rename: Callable[[str], str]
) -> ImpactRow:
    before, after, category = key
    people: set[int] = set()
    for count in hosts.values():
        people.update(count.people)
    top = sorted(hosts.items(), key=lambda item: (-item[1].requests, item[0]))[:TOP_HOSTS]
    return ImpactRow(
        before=before,
        after=after,
        category=category,
        hosts=len(hosts),
        requests=sum(count.requests for count in hosts.values()),
        people=len(people),
        top=tuple(
            HostLine(host, count.requests, len(count.people), rename(count.source))
            for host, count in top
        ),
    )
