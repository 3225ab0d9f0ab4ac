"""How worried to be about a mention: `classify_mention(policy, link, finding, near_words)`.

Two things give a mention its severity, both through the policy engine and neither by fetching:

- the linked site: `policy.categorise()` on the article's URL (and, for Google News, on the
  publisher's site). Only categories whose action is block or flag count; a hit in an `allow`
  category (social media, say) is kept as context with severity none.
- the words around the school's name: the policy's search-term phrases found within
  `near_words` words of an occurrence in the title or snippet.

The strongest finding names the category and rule; the reason lists what was found.
"""

from __future__ import annotations

from dataclasses import dataclass

from alerts.brand import BrandFinding
from alerts.links import ArticleLink
from filters.decision import Action, Severity
from filters.policy import Policy


@dataclass(frozen=True, slots=True)
class Classification:
    severity: Severity = Severity.NONE
    category: str | None = None
    rule: str | None = None
    rule_source: str | None = None  # list file:line
    reason: str = ""
    phrases: tuple[str, ...] = ()

    @property
    def flagged(self) -> bool:
        return self.severity > Severity.NONE


def classify_mention(
    policy: Policy, link: ArticleLink, findings: list[BrandFinding], near_words: int
) -> Classification:
    """Never raises: a policy surprise leaves the mention unclassified, not lost."""
    try:
        return _classify(policy, link, findings, near_words)
    except Exception as exc:
        return Classification(reason=f"could not be classified: {exc!r}"[:300])


def _classify(
    policy: Policy, link: ArticleLink, findings: list[BrandFinding], near_words: int
) -> Classification:
    best: tuple[int, str, str, str] | None = None  # severity, category, rule, source
    reasons: list[str] = []
    context: str | None = None
    urls = [link.url] + ([link.publisher_url] if link.publisher_url else [])
    for url in urls:
        for hit in policy.categorise(url):
            category = policy.categories.get(hit.category)
            if category is not None and category.action is Action.ALLOW:
                context = context or hit.category
                continue
            severity = int(hit.severity if hit.severity is not None else
                           category.severity if category else Severity.MEDIUM)
            what = category.description if category and category.description else hit.category
            reasons.append(f"links to {hit.url.host}, listed as {what} ({hit.source})")
            if best is None or severity > best[0]:
                best = (severity, hit.category, hit.rule, hit.source)
    phrases: list[str] = []
    for finding in findings:
        for window in finding.near(near_words):
            for phrase in policy.search_hits(window):
                if phrase.text in phrases:
                    continue
                phrases.append(phrase.text)
                reasons.append(f"{phrase.text!r} near the school's name ({phrase.source})")
                if best is None or phrase.severity > best[0]:
                    best = (phrase.severity, phrase.category, phrase.rule, phrase.source)
    if best is None:
        return Classification(category=context)
    severity, category_name, rule, source = best
    return Classification(
        severity=Severity(max(0, min(4, severity))),
        category=category_name,
        rule=rule,
        rule_source=source,
        reason="; ".join(dict.fromkeys(reasons)),
        phrases=tuple(phrases),
    )
