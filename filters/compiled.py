"""The policy's lists compiled into lookup tables, and what they say about a URL.

`CompiledLists` reads every list a `PolicySpec` names into the domain, URL-prefix and regex
tables (domain lists through the compiled cache), the search-phrase and page-phrase matchers and
the allowlist, and answers which entries a URL hits (`Hit`), before any group, exemption or
schedule is considered. `filters.policy.Policy` builds on it to decide what to do about them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from filters.confusables import lookalike_of
from filters.decision import Kind, Severity
from filters.entrychecks import broad_exemptions, entry_problems
from filters.hostfacts import NOTHING_LISTED, HostFacts, reads_paths
from filters.listcache import load_domains, store_domains
from filters.lists import ListEntry, ListProblem, guess_format, read_list
from filters.matchers import (
    DomainTable,
    RegexSet,
    UrlPrefixTable,
    label_suffixes,
    pack_ref,
    unpack_ref,
)
from filters.phrases import Phrase, PhraseList
from filters.policyspec import ListSpec, PolicySpec
from filters.search import extract_search
from filters.unwrap import embedded_targets
from filters.urls import NormalisedURL, normalise_url
from filters.weighted import WeightedPhrase, WeightedPhrases

# Per-host facts are cached; a gateway sees a few thousand hosts a day, hostile input many more.
MAX_HOST_FACTS = 200_000
# Redirectors inside redirectors: three levels covers real chains, and bounds hostile ones.
MAX_UNWRAP_DEPTH = 3


class Hit(NamedTuple):
    """One reason to act: a list entry, a search phrase or a host rule, and where it was found.
    (A NamedTuple, cheap to build, like `NormalisedURL`.)"""

    category: str
    rule: str
    source: str
    kind: Kind
    url: NormalisedURL  # the URL (outer or embedded target) it was found on
    via: str | None = None
    severity: Severity | None = None
    phrase: str | None = None


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


class CompiledLists:
    """Every list of a policy, compiled; built empty, filled by `_compile()`."""

    def __init__(self, spec: PolicySpec) -> None:
        self.spec = spec
        self.categories = spec.categories
        self.stats = PolicyStats(exemptions=len(spec.exemptions))
        self._lists: list[ListSpec] = []
        self._block_domains = DomainTable()
        self._block_urls = UrlPrefixTable()
        self._block_regex = RegexSet()
        self._allow_domains = DomainTable()
        self._allow_urls = UrlPrefixTable()
        # Every site the study allowlist names: one C pass over a host's suffixes tells that
        # none of them is listed, the answer for nearly every host (`_allowlisted`).
        self._allow_sites: frozenset[str] = frozenset()
        # Every site a URL prefix (block or allow) is listed for: its paths can matter.
        self._prefix_sites: frozenset[str] = frozenset()
        self._search: PhraseList = PhraseList(())
        self._page: WeightedPhrases = WeightedPhrases(())
        self._host_facts: dict[str, HostFacts] = {}
        self._any_regex = False  # whether any URL expression is listed: then every path matters

    # --- compiling ---------------------------------------------------------------------------

    def _compile(self) -> list[ListProblem]:
        problems: list[ListProblem] = []
        search: list[Phrase] = []
        page: list[WeightedPhrase] = []
        for spec in self.spec.lists:
            index = len(self._lists)
            self._lists.append(spec)
            fmt = spec.format or guess_format(spec.path)
            if spec.use == "block" and fmt in ("domains", "hosts"):
                count, found = self._load_domains(index, spec, fmt)
                problems.extend(found)
                self.stats.per_list[spec.display] = count
                continue
            listed = read_list(
                spec.path,
                spec.format,
                display=spec.display,
                root=spec.root or self.spec.path.parent,
            )
            problems.extend(listed.problems)
            problems.extend(entry_problems(spec, listed, self.categories))
            # Files reached through `.Include<...>` are part of the policy: hashed into its
            # version and watched for changes like the files the policy names.
            self.spec.files.extend(listed.included)
            self.stats.per_list[spec.display] = len(listed.entries)
            # The policy's category for the list comes before the file's own default.
            default = spec.category or listed.category
            if spec.use == "search":
                search.extend(self._search_phrase(spec, e, default) for e in listed.entries)
            elif spec.use == "page":
                page.extend(self._weighted_phrase(spec, e, default) for e in listed.entries)
            else:
                self._add_entries(index, spec, listed.entries)
        problems.extend(broad_exemptions(self.spec.exemptions))
        if problems:
            return problems
        self._block_regex.compile()
        self._any_regex = len(self._block_regex) > 0
        self._search = PhraseList(search)
        self._page = WeightedPhrases(page)
        self.stats.domains = len(self._block_domains)
        self.stats.url_prefixes = len(self._block_urls)
        self.stats.regexes = len(self._block_regex)
        self.stats.search_phrases = len(search)
        self.stats.page_phrases = len(page)
        self.stats.allow_entries = len(self._allow_domains) + len(self._allow_urls)
        self._allow_sites = frozenset((*self._allow_domains.names(), *self._allow_urls.sites()))
        self._prefix_sites = frozenset((*self._block_urls.sites(), *self._allow_urls.sites()))
        return []

    def _load_domains(self, index: int, spec: ListSpec, fmt: str) -> tuple[int, list[ListProblem]]:
        """A domains or hosts list straight into the table: from the compiled cache when the
        file is unchanged, else read line by line (and cached if it read cleanly)."""
        table = self._allow_domains if spec.use == "allow" else self._block_domains
        base = index << 24  # pack_ref(index, line), inlined: this loop runs a million times
        count = 0
        chunks = load_domains(spec.path, fmt)
        if chunks is not None:
            for chunk_domains, chunk_lines in chunks:
                table.add_lines(chunk_domains, chunk_lines, base)
                count += len(chunk_domains)
            return count, []
        domains: list[str] = []
        lines: list[int] = []

        def collect(domain: str, line: int) -> None:
            domains.append(domain)
            lines.append(line)

        listed = read_list(spec.path, fmt, display=spec.display, on_domain=collect)
        table.add_lines(domains, lines, base)
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
        clone = dataclasses.replace(spec, category=category)
        self._lists.append(clone)
        return len(self._lists) - 1

    def _search_phrase(self, spec: ListSpec, entry: ListEntry, default: str | None) -> Phrase:
        category = entry.category or default or "search-terms"
        severity = self._severity(category, entry.severity)
        return Phrase(
            text=entry.value,
            category=category,
            severity=int(severity),
            rule=f"search:{spec.name}:{_where(entry)}",
            source=f"{entry.file or spec.display}:{entry.line}",
        )

    def _weighted_phrase(
        self, spec: ListSpec, entry: ListEntry, default: str | None
    ) -> WeightedPhrase:
        return WeightedPhrase(
            words=entry.words or (entry.value,),
            weight=entry.weight,
            category=entry.category or default or "page-content",
            rule=f"page:{spec.name}:{_where(entry)}",
            source=f"{entry.file or spec.display}:{entry.line}",
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

    # --- what the lists say ------------------------------------------------------------------

    def search_hits(self, text: str) -> list[Phrase]:
        """Search-term phrases in any text (the watcher uses this on titles and snippets)."""
        return [hit.phrase for hit in self._search.find(text)]

    def categorise(self, url: str) -> list[Hit]:
        """Every list hit for a URL, before group actions: the watcher's view of a link."""
        normalised = normalise_url(url)
        hits = self._host_hits(normalised)
        hits.extend(self._url_hits(normalised)[1])
        return hits

    def silent_on(self, host: str) -> bool:
        """Whether no rule can touch any URL of `host` (a canonical domain, as
        `filters.hostanswers.answerable_host` names it): no domain entry covers or imitates it
        and its path cannot matter. Then `decide()` allows every such URL, whoever asks."""
        facts = self._facts(host)
        return not facts.domain_refs and not facts.path_sensitive

    def _facts(self, host: str) -> HostFacts:
        facts = self._host_facts.get(host)
        if facts is not None:
            return facts
        sensitive = (
            self._any_regex
            or not self._prefix_sites.isdisjoint(label_suffixes(host))
            or reads_paths(host)
        )
        refs = self._listed_domains(host, exact=False)
        facts = HostFacts(tuple(refs), sensitive) if refs or sensitive else NOTHING_LISTED
        if len(self._host_facts) >= MAX_HOST_FACTS:
            self._host_facts.clear()
        self._host_facts[host] = facts
        return facts

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
        for inner in nested_targets(url, depth):
            hits.extend(self._domain_hits(inner, inner.url()))

    def _domain_hits(self, url: NormalisedURL, via: str | None) -> list[Hit]:
        if url.host_kind in ("malformed", "empty"):
            return []
        exact = url.host_kind != "domain"
        hits = [
            self._list_hit(ref, rule, url, via)
            for rule, ref in self._listed_domains(url.host, exact=exact)
        ]
        key = url.match_key
        rest = key[len(url.host) :]
        hits.extend(
            self._list_hit(ref, f"url:{prefix}", url, via)
            for prefix, ref in self._block_urls.lookup(url.host, rest)
        )
        for _pattern, ref in self._block_regex.lookup(key):
            index, line = unpack_ref(ref)
            hits.append(self._list_hit(ref, f"regex:{self._lists[index].name}:{line}", url, via))
        return hits

    def _listed_domains(self, host: str, *, exact: bool) -> list[tuple[str, int]]:
        """(rule, ref) of every domain entry that covers the host, or that it imitates."""
        found = [
            (f"domain:{listed}", ref)
            for listed, ref in self._block_domains.lookup(host, exact=exact)
        ]
        if not found and "xn--" in host:
            # A look-alike of a listed domain (a Cyrillic е for e): decided like that domain.
            twin = lookalike_of(host)
            if twin is not None:
                found = [
                    (f"lookalike:{listed}", ref) for listed, ref in self._block_domains.lookup(twin)
                ]
        return found

    def _list_hit(self, ref: int, rule: str, url: NormalisedURL, via: str | None) -> Hit:
        category = self._list_category(unpack_ref(ref)[0])
        kind = self.categories[category].kind if category in self.categories else Kind.URL
        return Hit(category, rule, self._list_source(ref), kind, url, via)

    def _list_source(self, ref: int) -> str:
        """`file:line` of the list entry `ref` names."""
        index, line = unpack_ref(ref)
        return f"{self._lists[index].display}:{line}"

    def _list_category(self, index: int) -> str:
        """The category of every hit in the list at `index`."""
        return self._lists[index].category or "uncategorised"

    def _near_allowlist(self, host: str) -> bool:
        """Whether a study allowlist entry is listed for the host or a parent of it."""
        return not self._allow_sites.isdisjoint(label_suffixes(host))

    def _allowlisted(self, url: NormalisedURL) -> str | None:
        # Both tables look only at the host's label suffixes (an address's too, which
        # includes the address itself).
        if not self._near_allowlist(url.host):
            return None
        found = self._allow_domains.lookup(url.host, exact=url.host_kind != "domain")
        if not found:
            found = self._allow_urls.lookup(url.host, url.match_key[len(url.host) :])
        if not found:
            return None
        listed, ref = found[0]
        index, line = unpack_ref(ref)
        return f"{listed} is on the study allowlist ({self._lists[index].display}:{line})"


def nested_targets(url: NormalisedURL, depth: int = 1) -> Iterator[NormalisedURL]:
    """The targets carried inside `url` (redirect links, translate proxies, archives) and
    inside those, depth first, to `MAX_UNWRAP_DEPTH` levels: what the policy decides on besides
    the URL itself (and what the console's URL tester shows as unwrapped)."""
    if depth > MAX_UNWRAP_DEPTH:
        return
    for target in embedded_targets(url):
        inner = normalise_url(target)
        if inner.host_kind in ("malformed", "empty"):
            continue
        yield inner
        yield from nested_targets(inner, depth + 1)


def _where(entry: ListEntry) -> str:
    """An entry's place in its list, for rule ids: `12`, or `included/file:12` for an include."""
    return f"{entry.file}:{entry.line}" if entry.file else str(entry.line)
