"""One feed document's entries as mentions: which name the school, how each is classified, which
are backlog, and the counts a poll's summary gives.

    counts, items = read_entries(document, policy, brand, settings, alert_level,
                                 first_poll=True, now=now)
    counts.summary()    # "12 entries, 2 naming the school, ..."

The backlog rule (docs/watcher.md): on a feed's first successful poll an entry published more
than `backlog_days` ago is a `backlog` mention, unless it is at or above the alert level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.brand import BrandMatcher
from alerts.classify import Classification, classify_mention
from alerts.feeds import FeedDocument, FeedEntry
from alerts.links import ArticleLink, article_link
from alerts.settings import WatcherSettings
from filters.decision import Severity
from filters.policy import Policy
from monitor.events import new_event_id
from monitor.store.mentions import MentionItem, entry_key


@dataclass(slots=True)
class EntryCounts:
    entries: int = 0
    named: int = 0
    unnamed: int = 0
    namesake: int = 0
    unusable: int = 0
    backlog: int = 0

    def summary(self) -> str:
        parts = [f"{self.entries} entries", f"{self.named} naming the school"]
        if self.namesake:
            parts.append(f"{self.namesake} about a namesake (excluded)")
        if self.unnamed:
            parts.append(f"{self.unnamed} not naming it in title or snippet")
        if self.unusable:
            parts.append(f"{self.unusable} skipped (no usable http(s) link)")
        if self.backlog:
            parts.append(f"{self.backlog} older than the backlog window (first poll)")
        return ", ".join(parts)


def read_entries(
    document: FeedDocument,
    policy: Policy,
    brand: BrandMatcher,
    settings: WatcherSettings,
    alert_level: Severity,
    *,
    first_poll: bool,
    now: datetime,
) -> tuple[EntryCounts, list[MentionItem]]:
    """Every entry: its link, the school's name, its classification."""
    counts = EntryCounts()
    items: list[MentionItem] = []
    if not document.ok:
        return counts, items
    backlog_before = now - timedelta(days=settings.backlog_days)
    for entry in document.entries:
        counts.entries += 1
        link = article_link(entry.link, entry.source_url)
        if isinstance(link, str):
            counts.unusable += 1
            continue
        findings = [brand.find(entry.title), brand.find(entry.snippet)]
        if not any(f.found for f in findings):
            if any(f.excluded for f in findings):
                counts.namesake += 1
            else:
                counts.unnamed += 1
            continue
        counts.named += 1
        found = classify_mention(policy, link, findings, settings.near_words)
        alert = found.severity >= alert_level
        backlog = (
            first_poll and not alert
            and entry.published is not None and entry.published < backlog_before
        )  # fmt: skip
        counts.backlog += backlog
        items.append(_mention(entry, link, found, backlog=backlog, alert=alert))
    return counts, items


def _mention(
    entry: FeedEntry, link: ArticleLink, found: Classification, *, backlog: bool, alert: bool
) -> MentionItem:
    return MentionItem(
        entry_key=entry_key(entry.id or link.url),
        mention_key=link.key,
        url=link.url,
        host=link.host,
        title=entry.title,
        snippet=entry.snippet,
        published_at=entry.published,
        publisher=_publisher(link.publisher_url, entry.source_title, link.host),
        severity=int(found.severity),
        category=found.category,
        rule=found.rule,
        rule_source=found.rule_source,
        reason=found.reason,
        backlog=backlog,
        event_id=new_event_id() if alert else None,
    )


def _publisher(url: str | None, title: str | None, host: str) -> str:
    if title and url:
        return f"{title} ({url})"
    return title or url or host


__all__ = ["EntryCounts", "read_entries"]
