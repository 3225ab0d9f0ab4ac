"""Precedence over a request's hits (docs/policy.md, "Precedence"): which hit decides, why, and
the `Decision` that says so.

1. A hit in a category marked `illegal` blocks; nothing lifts it.
2. Otherwise a hit is *lifted* to study by the legitimate-study allowlist or an active study
   exemption for the pupil's group and the hit's category or site.
3. Otherwise its action is the group's for the category (a schedule in force overrides it).
4. The strongest remaining action wins: block, then flag, then study, then allow.

`Precedence._best` is the one place that ranks hits: `_conclude` builds the full `Decision`
from it, and `Policy.verdict_by_host` (the Squid helper's answer) reads only its action,
category and rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

from filters.compiled import CompiledLists, Hit
from filters.confusables import unicode_host
from filters.decision import Action, Decision, Kind, Lift, Severity, Step
from filters.policyspec import Category, Group, PolicySpec
from filters.urls import NormalisedURL

_INSTANT = timedelta(microseconds=1)


class Best(NamedTuple):
    """The hit that decides a request, with its action, severity and why it was lifted."""

    hit: Hit
    action: Action
    severity: Severity
    lift: Lift


class Precedence(CompiledLists):
    """The compiled lists with the policy's groups: precedence and the `Decision`."""

    def __init__(self, spec: PolicySpec) -> None:
        super().__init__(spec)
        self.groups = spec.groups
        self.version = ""

    def _lifted(self, hit: Hit, who: tuple[str, str | None], when: datetime) -> Lift | None:
        """Why a hit is allowed for study for this (group, user), or None."""
        category = self.categories.get(hit.category)
        if category is not None and category.illegal:
            return None
        allowlisted = self._allowlisted(hit.url)
        if allowlisted:
            return Lift(allowlisted, Step.ALLOWLIST)
        for exemption in self.spec.exemptions:
            if not exemption.covers(*who):
                continue
            if not exemption.active(when):
                continue
            if exemption.categories and hit.category not in exemption.categories:
                continue
            if exemption.sites and not _covers(exemption.sites, hit.url.host):
                continue
            # `ends` is the first moment after it (a date in the file means the whole day).
            last_day = (exemption.ends - _INSTANT).date().isoformat()
            why = (
                f"study exemption {exemption.id!r} ({exemption.reason}), approved by "
                f"{exemption.approved_by}, last day {last_day}"
            )
            return Lift(why, Step.EXEMPTION, exemption.id)
        return None

    def _action(self, hit: Hit, group: Group, when: datetime) -> tuple[Action, Step]:
        """The action for a hit before any lifting, and the step that set it."""
        category = self.categories.get(hit.category)
        action = group.actions.get(hit.category, category.action if category else Action.BLOCK)
        if category is not None and category.illegal:
            return Action.BLOCK, Step.ILLEGAL
        step = Step.GROUP
        if not self.spec.schedules:
            return action, step
        local = when.astimezone(self.spec.timezone)
        for schedule in self.spec.schedules:
            if schedule.groups and group.name not in schedule.groups:
                continue
            if hit.category in schedule.actions and schedule.active(local):
                action, step = schedule.actions[hit.category], Step.SCHEDULE
        return action, step

    def _best(self, hits: list[Hit], who: tuple[str, str | None], when: datetime) -> Best | None:
        """The hit that decides for this (group, user) at `when`: the strongest action, then the
        highest severity, the first such hit on a tie; None when every hit is allowed."""
        group = self.groups[who[0]]
        best: tuple[int, Severity, Hit, Action, Lift] | None = None
        for hit in hits:
            action, step = self._action(hit, group, when)
            if action is Action.ALLOW:
                continue
            lift = Lift("", step)
            if action is not Action.STUDY:
                lifted = self._lifted(hit, who, when)
                if lifted:
                    action, lift = Action.STUDY, lifted
            # Kept as the enum (an int): rebuilding it at the end costs Python-level enum code.
            severity = self._hit_severity(hit)
            rank = (action.strength, severity)
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], hit, action, lift)
        if best is None:
            return None
        return Best(best[2], best[3], best[1], best[4])

    def _conclude(
        self,
        url: NormalisedURL,
        hits: list[Hit],
        who: tuple[str, str | None],
        when: datetime,
        search_terms: str | None,
    ) -> Decision:
        found = self._best(hits, who, when) if hits else None
        return self._decided(url, found, who[0], search_terms)

    def _decided(
        self,
        url: NormalisedURL,
        found: Best | None,
        group_name: str,
        search_terms: str | None,
        canonical: str | None = None,
    ) -> Decision:
        """The `Decision` for `url` when `found` decides it (None: every hit is allowed).
        `canonical` is `url.url()`, when the caller has made it already."""
        if found is None:
            return self._allow(url, group_name, search_terms, canonical)
        hit, action, severity, lift = found
        category = self.categories.get(hit.category)
        # Every field in order, as one tuple: a NamedTuple built from keywords costs twice as
        # much, and every new host's answer is built here (or in `_allow`).
        return Decision._make((
            action,
            canonical or url.url(),
            url.host,
            hit.category,
            severity,
            hit.kind,
            hit.rule,
            hit.source,
            self._reason(hit, action, category, group_name, lift.why),
            search_terms,
            hit.via,
            group_name,
            self.version,
            bool(category and category.illegal),
            (hit.phrase,) if hit.phrase else (),
            lift.step,
            lift.exemption,
        ))  # fmt: skip

    def _hit_severity(self, hit: Hit) -> Severity:
        if hit.severity is not None:
            return hit.severity
        category = self.categories.get(hit.category)
        return category.severity if category else Severity.MEDIUM

    def _reason(
        self, hit: Hit, action: Action, category: Category | None, group: str, why: str
    ) -> str:
        what = category.description if category and category.description else hit.category
        if hit.kind is Kind.SEARCH:
            found = f"the search contains {hit.phrase!r} ({what})"
        elif hit.rule.startswith("host:"):
            found = what[:1].lower() + what[1:]
        elif hit.rule.startswith("lookalike:"):
            listed = hit.rule.split(":", 1)[1]
            shown = unicode_host(hit.url.host) or hit.url.host
            found = f"{shown} looks like {listed}, which is listed as {what}"
        else:
            found = f"{hit.rule.split(':', 1)[1]} is listed as {what}"
        if hit.via:
            found += f", reached through a redirect or proxy link to {hit.via}"
        return found + self._consequence(action, category, group, why)

    @staticmethod
    def _consequence(action: Action, category: Category | None, group: str, why: str) -> str:
        """The reason's second half: what the hit did, and for whom."""
        if action is Action.STUDY:
            return f"; allowed for study: {why}"
        if category and category.illegal:
            return "; unlawful content is blocked for everyone"
        verb = _VERBS.get(action) or str(action)
        return f"; {verb} for the {group} group"

    def _allow(
        self,
        url: NormalisedURL,
        group: str,
        search_terms: str | None,
        canonical: str | None = None,
    ) -> Decision:
        # In order, as `_decided`: action, url, host, then the defaults up to search_terms,
        # then via, group and policy_version, then the defaults to the end.
        return Decision._make(
            (Action.ALLOW, canonical or url.url(), url.host, *_UNMATCHED, search_terms, None, group,
             self.version, *_UNLIFTED)
        )  # fmt: skip


_VERBS = {Action.BLOCK: "blocked", Action.FLAG: "allowed but recorded"}
# A `Decision`'s defaults from category to reason, and from illegal to the end (`_allow`).
_DEFAULTS = Decision._field_defaults
_UNMATCHED = tuple(_DEFAULTS[name] for name in Decision._fields[3:9])
_UNLIFTED = tuple(_DEFAULTS[name] for name in Decision._fields[13:])


def _covers(sites: Iterable[str], host: str) -> bool:
    return any(host == site or host.endswith("." + site) for site in sites)
