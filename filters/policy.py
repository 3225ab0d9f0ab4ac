"""The policy engine: a compiled `Policy` and its `decide()`, the answer for every request.

Precedence (DESIGN.md contract 3, docs/policy.md) is `filters.precedence`'s: an illegal
category blocks; else the allowlist or a study exemption lifts a hit to study; else the group's
action (or a schedule's) applies; the strongest remaining action wins.

`decide()` is pure and never raises on any input: hostile URLs get a decision too.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from filters.compiled import Hit
from filters.decision import Action, Decision, HostVerdict, Kind, Lift, Severity, Step
from filters.entrychecks import broad_exemptions, entry_problems
from filters.groups import GroupFinder
from filters.hostanswers import HostAnswers
from filters.lists import ListProblem, read_list
from filters.matchers import unpack_ref
from filters.pagedecision import aware as _aware
from filters.pagedecision import decide_page
from filters.policyfile import read_policy
from filters.policyfiles import version_of
from filters.policyspec import PolicySpec
from filters.precedence import Best, Precedence
from filters.unwrap import may_carry_target
from filters.urls import NormalisedURL, normalise_url
from filters.weighted import PageScore


class PolicyError(Exception):
    """The policy or one of its lists has problems; nothing was compiled."""

    def __init__(self, problems: Sequence[ListProblem]) -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"the policy has {len(self.problems)} problem(s):\n{shown}{more}")


class Policy(Precedence):
    """A compiled, immutable policy. Build one with `Policy.load(path)`; swap it whole to reload.

    The lists and what they say about a URL are `CompiledLists`', precedence and the `Decision`
    are `Precedence`'s; this adds who the user is and the answers kept per host. (Subclasses,
    not members, so `decide()` pays no extra attribute lookup per call.)
    """

    def __init__(self, spec: PolicySpec, version: str) -> None:
        super().__init__(spec)
        self.version = version
        self.school = spec.school
        self._groups_of = GroupFinder(spec.groups, spec.default_group)
        self._answers = HostAnswers(spec, self.categories)
        # What a domain entry's hit in each category means for each group, where no host,
        # user or time can change it (`_learnt_meaning`): its action, severity and precedence step.
        self._learnt: dict[tuple[str, str], tuple[Action, Severity, Step]] = {}
        # Per (category, group, action): the second half of a learnt entry's reason.
        self._consequences: dict[tuple[str, str, Action], str] = {}

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read, validate and compile. Raises `PolicyError` listing every problem."""
        started = _time.perf_counter()
        spec = read_policy(Path(path))
        if spec.problems:
            raise PolicyError(spec.problems)
        policy = cls(spec, "")
        problems = policy._compile()
        if problems:
            raise PolicyError(problems)
        # After compiling: reading the lists adds the files they include to `spec.files`.
        policy.version = version_of(spec.files)
        policy.stats.load_seconds = _time.perf_counter() - started
        return policy

    @classmethod
    def validate(cls, path: str | Path) -> list[ListProblem]:
        """Every problem in the policy and its lists; empty when it would load."""
        spec = read_policy(Path(path))
        problems = [*spec.problems, *spec.held]
        for each in spec.lists:
            root = each.root or spec.path.parent
            listed = read_list(each.path, each.format, display=each.display, root=root)
            problems.extend(listed.problems)
            problems.extend(entry_problems(each, listed, spec.categories))
        problems.extend(broad_exemptions(spec.exemptions))
        return problems

    # --- who ---------------------------------------------------------------------------------

    def group_for(
        self,
        user: str | None = None,
        directory_groups: Sequence[str] = (),
        client_ip: str | None = None,
    ) -> str:
        """The policy group: by user name, then directory group, then network, then default."""
        return self._groups_of.find(user, directory_groups, client_ip)

    def fixed_group(self, directory_groups: Sequence[str] = ()) -> str | None:
        """The group whoever asks from wherever, when the groups name no users or networks."""
        return self._groups_of.fixed(directory_groups)

    # --- deciding ----------------------------------------------------------------------------

    def decide(
        self,
        url: str,
        *,
        user: str | None = None,
        directory_groups: Sequence[str] = (),
        client_ip: str | None = None,
        group: str | None = None,
        when: datetime | None = None,
        host_only: bool = False,
    ) -> Decision:
        """Block, flag, study or allow for one URL (or bare host, or `host:port`). With
        `host_only` (a CONNECT or TLS SNI, where only the host is known) domain lists only."""
        normalised = normalise_url(url)
        group_name = (
            group
            if group in self.groups
            else self._groups_of.find(user, directory_groups, client_ip)
        )
        if host_only:
            # Both: a listed IP literal is also an IP literal, and the list must win.
            hits = self._host_hits(normalised) + self._domain_hits(normalised, None)
            return self._conclude(normalised, hits, (group_name, user), _aware(when), None)
        if normalised.host_kind == "domain":
            facts = self._facts(normalised.host)
            if not facts.path_sensitive and not may_carry_target(normalised.query):
                # The common case: only the host can matter (filters.hostanswers).
                return self._by_host(normalised, facts.domain_refs, group_name, user, when)
        moment = _aware(when)
        hits = self._host_hits(normalised)
        search_terms = None
        if normalised.host_kind in ("domain", "ipv4", "ipv6"):
            search_terms, found = self._url_hits(normalised)
            hits.extend(found)
        return self._conclude(normalised, hits, (group_name, user), moment, search_terms)

    def _by_host(
        self,
        url: NormalisedURL,
        refs: Sequence[tuple[str, int]],
        group: str,
        user: str | None,
        when: datetime | None,
    ) -> Decision:
        canonical = url.url()
        kept = self._answers.get(url.host, group, canonical)
        if kept is not None:
            return kept
        return self._host_decision(url, refs, group, user, when, canonical)

    def _host_decision(
        self,
        url: NormalisedURL,
        refs: Sequence[tuple[str, int]],
        group: str,
        user: str | None,
        when: datetime | None,
        canonical: str | None = None,
    ) -> Decision:
        """The decision from the host's domain entries alone, kept when nothing can change it.
        Of `url` only the host is read, and the `url` field is `url.url()` (`canonical`, if
        the caller has made it): with the lists silent on the path, no URL-prefix list covers
        the host (`_facts`), so the allowlist check in `_lifted` reads only the host too."""
        if len(refs) == 1:  # nearly every listed host: its entry's meaning is learnt
            learnt = self._learnt_decision(url, refs[0], group, canonical)
            if learnt is not None:
                self._answers.remember(url.host, group, learnt)
                return learnt
        hits = [self._list_hit(ref, rule, url, None) for rule, ref in refs]
        if not hits:
            # As _conclude, without reading the clock.
            decision = self._allow(url, group, None, canonical)
            self._answers.remember(url.host, group, decision)  # no hit: allowed whoever asks
            return decision
        found, fixed = self._host_best(url, hits, group, user, when)
        decision = self._decided(url, found, group, None, canonical)
        if fixed:
            self._answers.remember(url.host, group, decision)
        return decision

    def _learnt_decision(
        self, url: NormalisedURL, entry: tuple[str, int], group: str, canonical: str | None
    ) -> Decision | None:
        """`_decided`'s answer for a host whose one domain entry means what its category was
        learnt to mean (`_learnt_meaning`), built from the entry without the `Hit`, `Best` and
        `Lift` it would read: each field as `_decided` fills it, and the reason as `_reason`
        writes it for a domain entry. None: nothing is learnt for it (rank its hits)."""
        rule, ref = entry
        learnt = self._learnt_meaning(url.host, (entry,), group, url)
        if learnt is None:
            return None
        name, action, severity, step = learnt
        if action is Action.ALLOW:
            return self._allow(url, group, None, canonical)
        category = self.categories.get(name)
        kind = category.kind if category else Kind.URL
        if kind is Kind.SEARCH or not rule.startswith("domain:"):
            # `_reason` words a look-alike or a search hit otherwise: from the hit itself.
            found = Best(self._list_hit(ref, rule, url, None), action, severity, Lift("", step))
            return self._decided(url, found, group, None, canonical)
        what = category.description if category and category.description else name
        key = (name, group, action)
        consequence = self._consequences.get(key)
        if consequence is None:
            consequence = self._consequence(action, category, group, "")
            self._consequences[key] = consequence
        return Decision._make((
            action, canonical or url.url(), url.host, name, severity, kind, rule,
            self._list_source(ref), f"{rule[7:]} is listed as {what}{consequence}", None, None,
            group, self.version, bool(category and category.illegal), (), step, None,
        ))  # fmt: skip

    def _host_best(
        self,
        url: NormalisedURL,
        hits: list[Hit],
        group: str,
        user: str | None,
        when: datetime | None,
    ) -> tuple[Best | None, bool]:
        """`_best` over a host's domain hits, and whether no user or time can change it, for a
        host whose answer is not learnt (`_learnt_decision`, `verdict_by_host`); what one
        entry alone was found to mean is learnt here for the next host."""
        found = self._best(hits, (group, user), _aware(when))
        fixed = self._answers.fixed(url.host, hits)
        if len(hits) == 1 and fixed and (found is None or found.lift.step not in _LIFTS):
            self._learnt[(hits[0].category, group)] = (
                _ALLOWED if found is None else (found.action, found.severity, found.lift.step)
            )
        return found, fixed

    def _learnt_meaning(
        self,
        host: str,
        refs: Sequence[tuple[str, int]],
        group: str,
        url: NormalisedURL | None = None,
    ) -> tuple[str, Action, Severity, Step] | None:
        """The category of a host's one domain entry, and what a hit in it means for `group`
        (action, severity, step), if that is known. It means the same on every host when no
        user or time can change it (`HostAnswers.fixed_category`, which also rules out hosts a
        study exemption names), unless the allowlist lifts it on this host: `_best` reads no
        more of the host than these. So it is learnt per (category, group), and a first visit
        to a listed host, the Squid helper's commonest, skips the ranking (and the verdict
        builds no `Hit`). `url` is a URL of `host`, only read if the allowlist is near (made
        from the host when not given). None: rank the hits in full."""
        if len(refs) != 1:
            return None
        category = self._list_category(unpack_ref(refs[0][1])[0])
        learnt = self._learnt.get((category, group))
        if learnt is None or not self._answers.fixed_category(category, host):
            return None
        action, severity, step = learnt
        liftable = action in _LIFTABLE and step is not Step.ILLEGAL
        if liftable and self._near_allowlist(host) and self._allowlisted(url or _stand_in(host)):
            return None  # the allowlist may lift it on this host
        return category, action, severity, step

    def decide_by_host(
        self, host: str, group: str, user: str | None = None, when: datetime | None = None
    ) -> Decision | None:
        """`decide()`'s answer for every URL of `host` that `answerable_host` names it for,
        asked by `user` in `group`, but for its `url` (http://host/, or the URL the kept
        answer was made for: use `for_url`); None when the host's path can matter (decide in
        full). A first visit then costs no URL parse, the Squid helper's most common miss."""
        kept = self._answers.kept(host, group)
        if kept is not None:
            return kept
        facts = self._facts(host)
        if facts.path_sensitive:
            return None
        return self._host_decision(_stand_in(host), facts.domain_refs, group, user, when)

    def verdict_by_host(
        self, host: str, group: str, user: str | None = None, when: datetime | None = None
    ) -> HostVerdict | None:
        """`decide_by_host`'s action, category and rule, and whether it is kept, without the
        `Decision`: no reason text, no canonical URL, nothing kept. The Squid helper answers
        with these alone, and most of its blocked lines are hosts seen once, so building the
        rest would be thrown away. None when the host's path can matter (decide in full)."""
        kept = self._answers.kept(host, group)
        if kept is not None:
            return HostVerdict(kept.action, kept.category, kept.rule, True)
        facts = self._facts(host)
        if facts.path_sensitive:
            return None
        if not facts.domain_refs:
            return _PASSES
        refs = facts.domain_refs
        learnt = self._learnt_meaning(host, refs, group)  # nearly every listed host
        if learnt is not None:
            category, action, _, _ = learnt
            if action is Action.ALLOW:
                return _PASSES
            return HostVerdict(action, category, refs[0][0], True)
        stand_in = _stand_in(host)
        hits = [self._list_hit(ref, rule, stand_in, None) for rule, ref in refs]
        found, fixed = self._host_best(stand_in, hits, group, user, when)
        if found is None:
            return HostVerdict(Action.ALLOW, None, None, fixed)
        return HostVerdict(found.action, found.hit.category, found.hit.rule, fixed)

    def kept_by_host(self, host: str, group: str) -> Decision | None:
        """The answer `decide_by_host` keeps for every URL of `host`, whoever asks, and when."""
        return self._answers.kept(host, group)

    def decide_host(self, host: str, **who: Any) -> Decision:
        """`decide(host, host_only=True, ...)`: for CONNECT and TLS SNI."""
        return self.decide(host, host_only=True, **who)

    def score_page(
        self,
        content: str | bytes,
        content_type: str,
        *,
        url: str,
        charset: str | None = None,
        group: str | None = None,
        limit: int = 2_000_000,
        when: datetime | None = None,
        user: str | None = None,
    ) -> tuple[Decision, PageScore]:
        """Weighted phrases over a page: over the group's flag threshold flags, over its block
        threshold blocks. Allowlisted pages and active exemptions lift it to study."""
        page_score = self.page_score(content, content_type, charset=charset, limit=limit)
        decision = self.page_decision(page_score, url=url, group=group, when=when, user=user)
        return decision, page_score

    def page_score(
        self,
        content: str | bytes,
        content_type: str,
        *,
        charset: str | None = None,
        limit: int = 2_000_000,
    ) -> PageScore:
        """The page's score and phrases: the same bytes, type and charset always score the same
        under one policy version, whoever reads them and wherever (the gateway keeps it)."""
        return self._page.score(content, content_type, charset=charset, limit=limit)

    def page_decision(
        self,
        page_score: PageScore,
        *,
        url: str,
        group: str | None = None,
        when: datetime | None = None,
        user: str | None = None,
    ) -> Decision:
        """What a page's score means for this reader (`filters.pagedecision`)."""
        return decide_page(self, page_score, url=url, group=group, when=when, user=user)

    def release(self, pause: Callable[[], None]) -> None:
        super().release(pause)
        self._answers.clear()


def _stand_in(host: str) -> NormalisedURL:
    """A URL of `host` for an answer that reads only the host (`decide_by_host`)."""
    return NormalisedURL(f"http://{host}/", "http", host, "domain", None, "/", "")


_LIFTS = (Step.ALLOWLIST, Step.EXEMPTION)
_LIFTABLE = (Action.BLOCK, Action.FLAG)  # what the allowlist can lift to study
_ALLOWED = (Action.ALLOW, Severity.NONE, Step.NONE)  # every hit allowed for the group
# No rule touches the host: allowed whoever asks, whenever.
_PASSES = HostVerdict(Action.ALLOW, None, None, True)
