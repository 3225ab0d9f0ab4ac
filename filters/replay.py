"""Replaying recorded requests through two policies: what a proposed change would decide
differently from the policy in force.

    pair = PolicyPair(current, proposed)
    change = pair.host_change("games.example", Who("pupil7", None, "year9"), when)
    change = pair.url_change("https://bad.test/forum/12", who, when)
    # None, or Change(before=Action.ALLOW, after=Action.BLOCK, category=..., source=...)

Both policies decide the same request the same way (the same host or URL, group, user and
time), so every difference is the change's and nothing else's: a list edited since the request
was recorded does not show up as an effect of this change.

A host-only record (the context log) is decided as a visit to the site's front page
(`https://host/`): domain entries, expressions that match the host and URL entries covering the
whole site apply; an entry for one path within a site cannot be seen from a host. A full URL
(an event) is decided like the gateway decides it.

Answers are cached per (what, both groups, the user where an exemption names pupils, which
schedules and exemptions were active): a week of a school repeats the same few thousand hosts
millions of times, and each distinct case is decided once per policy.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from filters.decision import Action, Decision
from filters.policy import Policy

MAX_CACHED = 500_000  # distinct cases kept; a hostile week of random hosts only costs speed


class Who(NamedTuple):
    """Who made a recorded request, as far as the record says."""

    user: str | None  # the user name the proxy authenticated, if any
    client_ip: str | None  # the device's address, if that is all the record has
    group: str | None  # the group the gateway recorded (it knew the directory groups)


class Change(NamedTuple):
    """What the proposed policy would do differently with one request."""

    before: Action  # the policy in force
    after: Action  # the proposed policy
    category: str  # the category of the stricter of the two decisions
    source: str  # the list file:line of the stricter decision's rule ("" if none)


_Key = tuple[str, str, str, str, str | None, tuple[bool, ...]]
_UNCHANGED: tuple[Action, Change | None] = (Action.ALLOW, None)  # what no list names


class PolicyPair:
    """The policy in force and a proposed one, deciding recorded requests side by side."""

    def __init__(self, current: Policy, proposed: Policy) -> None:
        self.current = current
        self.proposed = proposed
        self.decided = 0  # distinct cases decided (each by both policies)
        # what -> True when neither policy has any hit for it: then no group, user or time can
        # change its answer (every rule acts on a hit), and most of a week's hosts are such.
        self.unlisted: dict[str, bool] = {}
        self.looked_up = 0  # distinct hosts and URLs looked up in both policies' lists
        self._changes: dict[_Key, tuple[Action, Change | None]] = {}
        self._groups: dict[Who, tuple[str, str]] = {}
        self._moments: dict[datetime, tuple[bool, ...]] = {}
        self._by_user = any(
            exemption.pupils
            for policy in (current, proposed)
            for exemption in policy.spec.exemptions
        )

    def host_change(self, host: str, who: Who, when: datetime) -> Change | None:
        """The change for a host-only record: a visit to the site's front page."""
        return self.case("h", host, who, when)[1]

    def url_change(self, url: str, who: Who, when: datetime) -> Change | None:
        """The change for a request whose whole URL was recorded."""
        return self.case("u", url, who, when)[1]

    def is_unlisted(self, kind: str, what: str) -> bool:
        """Whether neither policy has a hit for this host (or URL): it cannot change."""
        found = self.unlisted.get(what)
        if found is None:
            url = what if kind == "u" else front_page(what)
            found = not self.current.categorise(url) and not self.proposed.categorise(url)
            self.looked_up += 1
            if len(self.unlisted) >= MAX_CACHED:
                self.unlisted.clear()
            self.unlisted[what] = found
        return found

    def case(self, kind: str, what: str, who: Who, when: datetime) -> tuple[Action, Change | None]:
        """What the policy in force does with a host ("h", its front page) or a URL ("u") for
        this pupil at this time, and the change the proposed policy would make (None: none)."""
        if self.is_unlisted(kind, what):
            return _UNCHANGED
        before_group, after_group = self.groups(who)
        user = who.user if self._by_user else None
        key = (kind, what, before_group, after_group, user, self.moment(when))
        try:
            return self._changes[key]
        except KeyError:
            pass
        url = what if kind == "u" else front_page(what)
        before = self.current.decide(url, user=user, group=before_group, when=when)
        after = self.proposed.decide(url, user=user, group=after_group, when=when)
        found = (before.action, compare(before, after))
        self.decided += 1
        if len(self._changes) >= MAX_CACHED:
            self._changes.clear()
        self._changes[key] = found
        return found

    def groups(self, who: Who) -> tuple[str, str]:
        """The pupil's group under each policy."""
        found = self._groups.get(who)
        if found is None:
            found = (group_of(self.current, who), group_of(self.proposed, who))
            if len(self._groups) >= MAX_CACHED:
                self._groups.clear()
            self._groups[who] = found
        return found

    def moment(self, when: datetime) -> tuple[bool, ...]:
        """Which schedules and exemptions of either policy are active at `when` (to the
        minute): the only ways time changes a decision."""
        minute = when.replace(second=0, microsecond=0)
        found = self._moments.get(minute)
        if found is None:
            found = _active(self.current, minute) + _active(self.proposed, minute)
            if len(self._moments) >= MAX_CACHED:
                self._moments.clear()
            self._moments[minute] = found
        return found


def group_of(policy: Policy, who: Who) -> str:
    """The group the gateway would find, in its own order: a group that names the user; else
    the group it recorded (which may have come from the directory, which no record keeps);
    else the network's group, else the default."""
    if who.user:
        lowered = who.user.lower()
        for group in policy.groups.values():
            if lowered in group.users:
                return group.name
    if who.group in policy.groups:
        return who.group
    return policy.group_for(client_ip=who.client_ip)


def compare(before: Decision, after: Decision) -> Change | None:
    """None when both do the same; else the change, named by the stricter decision."""
    if before.action is after.action:
        return None
    stricter = after if after.action.strength > before.action.strength else before
    return Change(before.action, after.action, stricter.category or "", stricter.source or "")


def front_page(host: str) -> str:
    """The URL a host-only record is decided as (an IPv6 address in brackets)."""
    if ":" in host and not host.startswith("["):
        return f"https://[{host}]/"
    return f"https://{host}/"


def _active(policy: Policy, when: datetime) -> tuple[bool, ...]:
    spec = policy.spec
    if not spec.schedules and not spec.exemptions:
        return ()
    local = when.astimezone(spec.timezone)
    return tuple(s.active(local) for s in spec.schedules) + tuple(
        e.active(when) for e in spec.exemptions
    )
