"""The policy engine: a compiled `Policy` and its `decide()`, the answer for every request.

Precedence (DESIGN.md contract 3, docs/policy.md):

1. A hit in a category marked `illegal` blocks; nothing lifts it.
2. Otherwise a hit is *lifted* when the URL it was found on is on the legitimate-study allowlist,
   or an active study exemption covers the pupil's group and the hit's category or site. A lifted
   hit means `study`: the page is allowed and the visit recorded.
3. Otherwise the hit's action is the group's action for the category (a schedule active now
   overrides it, the category's default applies when the group says nothing).
4. The answer is the strongest remaining: block, then flag, then study, then allow.

`decide()` is pure and never raises on any input: hostile URLs get a decision too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time as _time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from filters.decision import Action, Decision, Kind, Severity
from filters.listcache import load_domains, store_domains
from filters.lists import ListEntry, ListProblem, guess_format, read_list
from filters.matchers import DomainTable, RegexSet, UrlPrefixTable, pack_ref, unpack_ref
from filters.phrases import Phrase, PhraseList
from filters.policyfile import read_policy
from filters.policyspec import Category, Group, ListSpec, PolicySpec
from filters.search import extract_search, is_search_site
from filters.unwrap import carries_targets, embedded_targets
from filters.urls import NormalisedURL, normalise_url
from filters.weighted import PageScore, WeightedPhrase, WeightedPhrases

# Per-host facts are cached; a gateway sees a few thousand hosts a day, hostile input many more.
MAX_HOST_FACTS = 200_000
# Redirectors inside redirectors: three levels covers real chains, and bounds hostile ones.
MAX_UNWRAP_DEPTH = 3


class PolicyError(Exception):
    """The policy or one of its lists has problems; nothing was compiled."""

    def __init__(self, problems: Sequence[ListProblem]) -> None:
        self.problems = list(problems)
        shown = "\n".join(f"  {p}" for p in self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(f"the policy has {len(self.problems)} problem(s):\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class Hit:
    """One reason to act: a list entry, a search phrase or a host rule, and where it was found."""

    category: str
    rule: str
    source: str
    kind: Kind
    url: NormalisedURL  # the URL (outer or embedded target) it was found on
    via: str | None = None
    severity: Severity | None = None
    phrase: str | None = None


@dataclass(frozen=True, slots=True)
class _HostFacts:
    """What the lists say about a host whatever its path, and whether the path could matter."""

    domain_refs: tuple[tuple[str, int], ...]
    path_sensitive: bool


@dataclass(slots=True)
class PolicyStats:
    domains: int = 0
    url_prefixes: int = 0
    regexes: int = 0
    search_phrases: int = 0
    page_phrases: int = 0
    allow_entries: int = 0
    exemptions: int = 0
    load_seconds: float = 0.0
    per_list: dict[str, int] = field(default_factory=dict)


class Policy:
    """A compiled, immutable policy. Build one with `Policy.load(path)`; swap it whole to reload."""

    def __init__(self, spec: PolicySpec, version: str) -> None:
        self.spec = spec
        self.version = version
        self.school = spec.school
        self.categories = spec.categories
        self.groups = spec.groups
        self.stats = PolicyStats(exemptions=len(spec.exemptions))
        self._lists: list[ListSpec] = []
        self._block_domains = DomainTable()
        self._block_urls = UrlPrefixTable()
        self._block_regex = RegexSet()
        self._allow_domains = DomainTable()
        self._allow_urls = UrlPrefixTable()
        self._search: PhraseList = PhraseList(())
        self._page: WeightedPhrases = WeightedPhrases(())
        self._group_cache: dict[tuple[str | None, tuple[str, ...], str | None], str] = {}
        self._host_facts: dict[str, _HostFacts] = {}

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        """Read, validate and compile. Raises `PolicyError` listing every problem."""
        started = _time.perf_counter()
        spec = read_policy(Path(path))
        if spec.problems:
            raise PolicyError(spec.problems)
        policy = cls(spec, _version(spec.files))
        problems = policy._compile()
        if problems:
            raise PolicyError(problems)
        policy.stats.load_seconds = _time.perf_counter() - started
        return policy

    @classmethod
    def validate(cls, path: str | Path) -> list[ListProblem]:
        """Every problem in the policy and its lists; empty when it would load."""
        spec = read_policy(Path(path))
        problems = list(spec.problems)
        for list_spec in spec.lists:
            listed = read_list(list_spec.path, list_spec.format, display=list_spec.display)
            problems.extend(listed.problems)
        return problems

    def _compile(self) -> list[ListProblem]:
        problems: list[ListProblem] = []
        search: list[Phrase] = []
        page: list[WeightedPhrase] = []
        for spec in self.spec.lists:
            index = len(self._lists)
            self._lists.append(spec)
            fmt = spec.format or guess_format(spec.path)
            if spec.use in ("block", "allow") and fmt in ("domains", "hosts"):
                count, found = self._load_domains(index, spec, fmt)
                problems.extend(found)
                self.stats.per_list[spec.display] = count
                continue
            listed = read_list(spec.path, spec.format, display=spec.display)
            problems.extend(listed.problems)
            self.stats.per_list[spec.display] = len(listed.entries)
            if spec.use == "search":
                search.extend(self._search_phrase(spec, e) for e in listed.entries)
            elif spec.use == "page":
                page.extend(self._weighted_phrase(spec, e) for e in listed.entries)
            else:
                self._add_entries(index, spec, listed.entries)
        if problems:
            return problems
        self._block_regex.compile()
        self._search = PhraseList(search)
        self._page = WeightedPhrases(page)
        self.stats.domains = len(self._block_domains)
        self.stats.url_prefixes = len(self._block_urls)
        self.stats.regexes = len(self._block_regex)
        self.stats.search_phrases = len(search)
        self.stats.page_phrases = len(page)
        self.stats.allow_entries = len(self._allow_domains) + len(self._allow_urls)
        return []

    def _load_domains(self, index: int, spec: ListSpec, fmt: str) -> tuple[int, list[ListProblem]]:
        """A domains or hosts list straight into the table: from the compiled cache when the
        file is unchanged, else read line by line (and cached if it read cleanly)."""
        table = self._allow_domains if spec.use == "allow" else self._block_domains
        base = index << 24  # pack_ref(index, line), inlined: this loop runs a million times
        count = 0
        chunks = load_domains(spec.path, fmt)
        if chunks is not None:
            add = table.add
            for chunk_domains, chunk_lines in chunks:
                for domain, line in zip(chunk_domains, chunk_lines, strict=True):
                    add(domain, base | line)
                count += len(chunk_domains)
            return count, []
        domains: list[str] = []
        lines: list[int] = []

        def collect(domain: str, line: int) -> None:
            domains.append(domain)
            lines.append(line)
            table.add(domain, base | line)

        listed = read_list(spec.path, fmt, display=spec.display, on_domain=collect)
        if not listed.problems:
            store_domains(spec.path, fmt, domains, lines)
        return len(domains), listed.problems

    def _add_entries(self, index: int, spec: ListSpec, entries: list[ListEntry]) -> None:
        allow = spec.use == "allow"
        domains = self._allow_domains if allow else self._block_domains
        urls = self._allow_urls if allow else self._block_urls
        for entry in entries:
            ref = pack_ref(index, entry.line)
            if entry.category and entry.category != spec.category and not allow:
                # A YAML entry with its own category gets a list slot of its own, so a ref
                # still names file, line and category.
                ref = pack_ref(self._category_slot(spec, entry.category), entry.line)
            if entry.kind == "domain":
                domains.add(entry.value, ref)
            elif entry.kind == "url":
                urls.add(entry.value, ref)
            elif entry.kind == "regex" and not allow:
                self._block_regex.add(entry.value, ref)

    def _category_slot(self, spec: ListSpec, category: str) -> int:
        for index, listed in enumerate(self._lists):
            if listed.path == spec.path and listed.category == category:
                return index
        clone = ListSpec(
            spec.path, spec.display, spec.format, category, spec.use, spec.name, spec.line
        )
        self._lists.append(clone)
        return len(self._lists) - 1

    def _search_phrase(self, spec: ListSpec, entry: ListEntry) -> Phrase:
        category = entry.category or spec.category or "search-terms"
        severity = self._severity(category, entry.severity)
        return Phrase(
            text=entry.value,
            category=category,
            severity=int(severity),
            rule=f"search:{spec.name}:{entry.line}",
            source=f"{spec.display}:{entry.line}",
        )

    def _weighted_phrase(self, spec: ListSpec, entry: ListEntry) -> WeightedPhrase:
        return WeightedPhrase(
            words=entry.words or (entry.value,),
            weight=entry.weight,
            category=entry.category or spec.category or "page-content",
            rule=f"page:{spec.name}:{entry.line}",
            source=f"{spec.display}:{entry.line}",
        )

    def _severity(self, category: str, override: str | None) -> Severity:
        if override:
            try:
                return Severity.parse(override)
            except ValueError:
                pass
        known = self.categories.get(category)
        return known.severity if known else Severity.MEDIUM

    def release(self, pause: Callable[[], None]) -> None:
        """Free the big tables gradually (see `DomainTable.release`). Only for a policy that no
        decision can be using any more: `LivePolicy` calls it a while after a swap."""
        self._block_domains.release(pause)
        self._allow_domains.release(pause)
        self._host_facts.clear()

    # --- who ---------------------------------------------------------------------------------

    def group_for(
        self,
        user: str | None = None,
        directory_groups: Sequence[str] = (),
        client_ip: str | None = None,
    ) -> str:
        """The policy group: by user name, then directory group, then network, then default."""
        key = (user, tuple(directory_groups), client_ip)
        cached = self._group_cache.get(key)
        if cached is not None:
            return cached
        group = self._find_group(user, directory_groups, client_ip)
        if len(self._group_cache) > 65536:
            self._group_cache.clear()
        self._group_cache[key] = group
        return group

    def _find_group(
        self, user: str | None, directory_groups: Sequence[str], client_ip: str | None
    ) -> str:
        lowered_user = user.lower() if user else None
        wanted = {g.lower() for g in directory_groups}
        for group in self.groups.values():
            if lowered_user and lowered_user in group.users:
                return group.name
        for group in self.groups.values():
            if wanted & group.directory_groups:
                return group.name
        address = _address(client_ip)
        if address is not None:
            for group in self.groups.values():
                if any(address in network for network in group.networks):
                    return group.name
        return self.spec.default_group

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
            group if group in self.groups else self.group_for(user, directory_groups, client_ip)
        )
        moment = _aware(when)
        if host_only:
            hits = self._host_hits(normalised) or self._domain_hits(normalised, None)
            return self._conclude(normalised, hits, group_name, moment, None)
        if normalised.host_kind == "domain":
            facts = self._facts(normalised.host)
            if not facts.path_sensitive and "http" not in normalised.query.lower():
                # The common case: only the host can matter, and its lookups are cached.
                hits = [
                    self._list_hit(ref, f"domain:{listed}", normalised, None)
                    for listed, ref in facts.domain_refs
                ]
                return self._conclude(normalised, hits, group_name, moment, None)
        hits = self._host_hits(normalised)
        search_terms = None
        if normalised.host_kind in ("domain", "ipv4", "ipv6"):
            search_terms, found = self._url_hits(normalised)
            hits.extend(found)
        return self._conclude(normalised, hits, group_name, moment, search_terms)

    def decide_host(self, host: str, **who: Any) -> Decision:
        """`decide(host, host_only=True, ...)`: for CONNECT and TLS SNI."""
        return self.decide(host, host_only=True, **who)

    def _facts(self, host: str) -> _HostFacts:
        facts = self._host_facts.get(host)
        if facts is not None:
            return facts
        sensitive = (
            len(self._block_regex) > 0
            or self._block_urls.covers(host)
            or self._allow_urls.covers(host)
            or carries_targets(host)
            or is_search_site(host)
        )
        facts = _HostFacts(tuple(self._block_domains.lookup(host)), sensitive)
        if len(self._host_facts) >= MAX_HOST_FACTS:
            self._host_facts.clear()
        self._host_facts[host] = facts
        return facts

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
    ) -> tuple[Decision, PageScore]:
        """Weighted phrases over a page: over the group's flag threshold flags, over its block
        threshold blocks. Allowlisted pages and active exemptions lift it to study."""
        normalised = normalise_url(url)
        group_name = group if group in self.groups else self.spec.default_group
        page_score = self._page.score(content, content_type, charset=charset, limit=limit)
        group_spec = self.groups[group_name]
        flag_at = group_spec.page_flag or self.spec.page_flag
        block_at = group_spec.page_block or self.spec.page_block
        if page_score.score < flag_at or not page_score.hits:
            return self._allow(normalised, group_name, None), page_score
        top = page_score.hits[0][0]
        action = Action.BLOCK if page_score.score >= block_at else Action.FLAG
        hit = Hit(
            category=top.category,
            rule=top.rule,
            source=top.source,
            kind=Kind.PAGE,
            url=normalised,
            phrase=" + ".join(top.words),
        )
        reason = (
            f"the page text scored {page_score.score} (flag at {flag_at}, block at {block_at}); "
            f"strongest phrase: {' + '.join(top.words)!r}"
        )
        lifted = self._lifted(hit, group_name, _aware(when))
        if lifted:
            action, reason = Action.STUDY, f"{reason}; allowed for study: {lifted}"
        category = self.categories.get(top.category)
        decision = Decision(
            action=action,
            url=normalised.url(),
            host=normalised.host,
            category=top.category,
            severity=category.severity if category else Severity.MEDIUM,
            kind=Kind.PAGE,
            rule=top.rule,
            source=top.source,
            reason=reason,
            group=group_name,
            policy_version=self.version,
            matched=tuple(" + ".join(p.words) for p, _ in page_score.hits[:10]),
        )
        return decision, page_score

    def search_hits(self, text: str) -> list[Phrase]:
        """Search-term phrases in any text (the watcher uses this on titles and snippets)."""
        return [hit.phrase for hit in self._search.find(text)]

    def categorise(self, url: str) -> list[Hit]:
        """Every list hit for a URL, before group actions: the watcher's view of a link."""
        normalised = normalise_url(url)
        hits = self._host_hits(normalised)
        hits.extend(self._url_hits(normalised)[1])
        return hits

    # --- the steps ---------------------------------------------------------------------------

    def _host_hits(self, url: NormalisedURL) -> list[Hit]:
        """Hosts that cannot be listed: malformed, disguised IPs and IP literals."""
        kind = url.host_kind
        if kind == "domain":
            return []
        if kind in ("malformed", "empty"):
            category = "malformed-host"
        elif "obfuscated-ip" in url.anomalies:
            category = "obfuscated-ip"
        else:
            category = "ip-literal"
        return [Hit(category, f"host:{category}", "built-in", Kind.CIRCUMVENTION, url)]

    def _url_hits(self, url: NormalisedURL) -> tuple[str | None, list[Hit]]:
        hits = self._domain_hits(url, None)
        search_terms = None
        query = extract_search(url.host, url.path, url.query)
        if query is not None:
            search_terms = query.terms
            hits.extend(
                Hit(
                    phrase.phrase.category,
                    phrase.phrase.rule,
                    phrase.phrase.source,
                    Kind.SEARCH,
                    url,
                    severity=Severity(phrase.phrase.severity),
                    phrase=phrase.phrase.text,
                )
                for phrase in self._search.find(query.terms)
            )
        self._embedded_hits(url, hits, depth=1)
        return search_terms, hits

    def _embedded_hits(self, url: NormalisedURL, hits: list[Hit], depth: int) -> None:
        if depth > MAX_UNWRAP_DEPTH:
            return
        for target in embedded_targets(url):
            inner = normalise_url(target)
            if inner.host_kind in ("malformed", "empty"):
                continue
            found = self._domain_hits(inner, inner.url())
            hits.extend(found)
            self._embedded_hits(inner, hits, depth + 1)

    def _domain_hits(self, url: NormalisedURL, via: str | None) -> list[Hit]:
        if url.host_kind in ("malformed", "empty"):
            return []
        exact = url.host_kind != "domain"
        hits = [
            self._list_hit(ref, f"domain:{listed}", url, via)
            for listed, ref in self._block_domains.lookup(url.host, exact=exact)
        ]
        key = url.match_key
        rest = key[len(url.host) :]
        hits.extend(
            self._list_hit(ref, f"url:{prefix}", url, via)
            for prefix, ref in self._block_urls.lookup(url.host, rest)
        )
        for _pattern, ref in self._block_regex.lookup(key):
            index, line = unpack_ref(ref)
            hits.append(
                self._list_hit(ref, f"regex:{self._lists[index].name}:{line}", url, via)
            )
        return hits

    def _list_hit(self, ref: int, rule: str, url: NormalisedURL, via: str | None) -> Hit:
        index, line = unpack_ref(ref)
        spec = self._lists[index]
        category = spec.category or "uncategorised"
        kind = self.categories[category].kind if category in self.categories else Kind.URL
        return Hit(category, rule, f"{spec.display}:{line}", kind, url, via)

    def _allowlisted(self, url: NormalisedURL) -> str | None:
        found = self._allow_domains.lookup(url.host, exact=url.host_kind != "domain")
        if not found:
            found = self._allow_urls.lookup(url.host, url.match_key[len(url.host) :])
        if not found:
            return None
        listed, ref = found[0]
        index, line = unpack_ref(ref)
        return f"{listed} is on the study allowlist ({self._lists[index].display}:{line})"

    def _lifted(self, hit: Hit, group: str, when: datetime) -> str | None:
        """Why a hit is allowed for study, or None."""
        category = self.categories.get(hit.category)
        if category is not None and category.illegal:
            return None
        allowlisted = self._allowlisted(hit.url)
        if allowlisted:
            return allowlisted
        for exemption in self.spec.exemptions:
            if exemption.groups and group not in exemption.groups:
                continue
            if not exemption.active(when):
                continue
            if exemption.categories and hit.category not in exemption.categories:
                continue
            if exemption.sites and not _covers(exemption.sites, hit.url.host):
                continue
            return (
                f"study exemption {exemption.id!r} ({exemption.reason}), approved by "
                f"{exemption.approved_by}, until {exemption.ends.date().isoformat()}"
            )
        return None

    def _action(self, hit: Hit, group: Group, when: datetime) -> Action:
        category = self.categories.get(hit.category)
        action = group.actions.get(hit.category, category.action if category else Action.BLOCK)
        if category is not None and category.illegal:
            return Action.BLOCK
        local = when.astimezone(self.spec.timezone)
        for schedule in self.spec.schedules:
            if schedule.groups and group.name not in schedule.groups:
                continue
            if hit.category in schedule.actions and schedule.active(local):
                action = schedule.actions[hit.category]
        return action

    def _conclude(
        self,
        url: NormalisedURL,
        hits: list[Hit],
        group_name: str,
        when: datetime,
        search_terms: str | None,
    ) -> Decision:
        if not hits:
            return self._allow(url, group_name, search_terms)
        group = self.groups[group_name]
        best: tuple[int, int, Hit, Action, str] | None = None
        for hit in hits:
            action = self._action(hit, group, when)
            if action is Action.ALLOW:
                continue
            why = ""
            if action is not Action.STUDY:
                lifted = self._lifted(hit, group_name, when)
                if lifted:
                    action, why = Action.STUDY, lifted
            severity = int(self._hit_severity(hit))
            rank = (action.strength, severity)
            if best is None or rank > best[:2]:
                best = (rank[0], rank[1], hit, action, why)
        if best is None:
            return self._allow(url, group_name, search_terms)
        _, severity, hit, action, why = best
        category = self.categories.get(hit.category)
        return Decision(
            action=action,
            url=url.url(),
            host=url.host,
            category=hit.category,
            severity=Severity(severity),
            kind=hit.kind,
            rule=hit.rule,
            source=hit.source,
            reason=self._reason(hit, action, category, group_name, why),
            search_terms=search_terms,
            via=hit.via,
            group=group_name,
            policy_version=self.version,
            illegal=bool(category and category.illegal),
            matched=(hit.phrase,) if hit.phrase else (),
        )

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
        else:
            found = f"{hit.rule.split(':', 1)[1]} is listed as {what}"
        if hit.via:
            found += f", reached through a redirect or proxy link to {hit.via}"
        if action is Action.STUDY:
            return f"{found}; allowed for study: {why}"
        if category and category.illegal:
            return f"{found}; unlawful content is blocked for everyone"
        verb = {Action.BLOCK: "blocked", Action.FLAG: "allowed but recorded"}.get(
            action, str(action)
        )
        return f"{found}; {verb} for the {group} group"

    def _allow(self, url: NormalisedURL, group: str, search_terms: str | None) -> Decision:
        return Decision(
            action=Action.ALLOW,
            url=url.url(),
            host=url.host,
            search_terms=search_terms,
            group=group,
            policy_version=self.version,
        )


def _covers(sites: Iterable[str], host: str) -> bool:
    return any(host == site or host.endswith("." + site) for site in sites)


def _aware(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


@lru_cache(maxsize=4096)
def _address(client_ip: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not client_ip:
        return None
    try:
        address = ipaddress.ip_address(client_ip.strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _version(files: Iterable[Path]) -> str:
    """A short content hash: the same lists give the same version on every gateway of a trust."""
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"<unreadable>")
    return digest.hexdigest()[:12]
