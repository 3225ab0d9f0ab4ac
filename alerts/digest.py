"""The brand-alert digest: what was found since the last one, in one email per period.

    period = digest_period(now, settings)             # the latest scheduled send at or before now
    digest = await build_digest(store, settings, period, school)
    text, html = render_digest(digest)
    await send_digest(store, mailer, settings, period, school)   # idempotent per period
    await run_digest(settings, store, stop_event, ...)            # the daemon's schedule task

Contents (issue 5 point 7): flagged mentions first, then the rest grouped by the feed that found
them, counts, a cap (`max_items`) with "and N more", the feeds that are failing, counts of
the gateway's events for the period, and the Prevent lead's review of mentions by status
(issue 12 point 8: every mention found so far, and how many reviews changed in the period).
A digest lists every mention no digest has carried yet, so a failed or missed digest loses
nothing; backlog mentions (a new feed's first poll) are counted,
not listed.

Idempotency: the period's key ("daily:2025-03-04") is claimed in `digests_sent` before sending;
a claimed period is never sent again, whatever restarts happen (see
`monitor.store.mentions.claim_digest`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email.message import EmailMessage

from alerts.mail import TEMPLATES, Mailer, build_message, severity_name
from alerts.period import DigestPeriod as DigestPeriod
from alerts.period import digest_period as digest_period
from alerts.settings import DigestSettings
from monitor.events import utcnow
from monitor.schools import ALL_SCHOOLS, DEFAULT_SCHOOL_ID, Schools
from monitor.store.mentionreview import MentionReviewSummary, mention_review_summary
from monitor.store.mentions import (
    claim_digest,
    digest_status,
    feed_states,
    finish_digest,
    mentions_for_digest,
    mentions_in_period,
)
from monitor.store.models import BrandMention, FeedState
from monitor.store.runner import Store
from monitor.store.stats import GatewaySummary, gateway_summary

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DigestItem:
    id: int
    title: str
    url: str
    host: str
    publisher: str
    feed: str
    snippet: str
    severity: int
    category: str | None
    reason: str
    first_seen: str  # local, for people
    seen_count: int
    alerted: bool
    school: str = ""  # the school's name, in the trust-wide digest

    @property
    def severity_name(self) -> str:
        return severity_name(self.severity)


@dataclass(frozen=True, slots=True)
class SourceGroup:
    feed: str
    items: tuple[DigestItem, ...]
    total: int  # in this digest, listed or not


@dataclass(frozen=True, slots=True)
class FeedHealth:
    label: str
    url: str
    status: str
    error: str | None
    since: str | None
    next_try: str | None
    failures: int
    summary: str | None


@dataclass(slots=True)
class Digest:
    school: str
    period: DigestPeriod
    generated: str
    flagged: list[DigestItem] = field(default_factory=list)
    groups: list[SourceGroup] = field(default_factory=list)
    total: int = 0
    flagged_total: int = 0
    backlog: int = 0
    more: int = 0  # found but not listed (over max_items)
    per_source: list[tuple[str, int]] = field(default_factory=list)
    failing: list[FeedHealth] = field(default_factory=list)
    warnings: list[FeedHealth] = field(default_factory=list)
    feeds_ok: int = 0
    gateway: GatewaySummary = field(default_factory=GatewaySummary)
    # The Prevent lead's review of every mention found so far, by status (counts only).
    reviews: MentionReviewSummary = field(default_factory=lambda: MentionReviewSummary({}))
    mention_ids: list[int] = field(default_factory=list)
    per_school: list[tuple[str, int]] = field(default_factory=list)  # the trust-wide digest

    @property
    def subject(self) -> str:
        day = self.period.local(self.period.end).strftime("%a %-d %b %Y")
        parts = [f"{self.total} new mention{'s' if self.total != 1 else ''}"]
        if self.flagged_total:
            parts.insert(0, f"{self.flagged_total} FLAGGED")
        if self.failing:
            parts.append(f"{len(self.failing)} feed{'s' if len(self.failing) != 1 else ''} failing")
        return f"Brand-alert digest for {self.school}, {day}: " + ", ".join(parts)

    @property
    def period_text(self) -> str:
        fmt = "%a %-d %b %Y %H:%M"
        start = self.period.local(self.period.start).strftime(fmt)
        end = self.period.local(self.period.end).strftime(fmt)
        return f"{start} to {end} ({self.period.zone.key})"


def assemble_digest(
    mentions: list[BrandMention],
    feeds: list[FeedState],
    gateway: GatewaySummary,
    settings: DigestSettings,
    period: DigestPeriod,
    school: str,
    now: datetime,
    reviews: MentionReviewSummary | None = None,
    feed_label: Callable[[FeedState], str] | None = None,
) -> Digest:
    """A `Digest` from what the store holds (pure: no I/O). `feed_label` names a feed (by
    default its label, else its URL)."""
    fmt = "%a %-d %b %H:%M"
    digest = Digest(
        school=school or "the school", period=period,
        generated=period.local(now).strftime("%a %-d %b %Y %H:%M"), gateway=gateway,
    )
    if reviews is not None:
        digest.reviews = reviews
    digest.mention_ids = [m.id for m in mentions]
    listed = [m for m in mentions if m.state != "backlog" or m.severity > 0]
    digest.backlog = len(mentions) - len(listed)
    digest.total = len(listed)
    per_source = Counter(m.feed_label or m.feed for m in listed)
    digest.per_source = sorted(per_source.items(), key=lambda p: (-p[1], p[0]))
    budget = settings.max_items
    flagged = [m for m in listed if m.severity > 0]
    digest.flagged_total = len(flagged)
    digest.flagged = [_item(m, period, fmt) for m in flagged[:budget]]
    budget -= len(digest.flagged)
    groups: dict[str, list[BrandMention]] = {}
    for mention in listed:
        if mention.severity == 0:
            groups.setdefault(mention.feed_label or mention.feed, []).append(mention)
    ordered = sorted(groups.items(), key=lambda g: (-len(g[1]), g[0]))
    # Share what is left of the cap round-robin, so one busy feed cannot hide the others.
    shares = {feed: 0 for feed, _ in ordered}
    while budget > 0 and any(shares[f] < len(m) for f, m in ordered):
        for feed, members in ordered:
            if budget > 0 and shares[feed] < len(members):
                shares[feed] += 1
                budget -= 1
    for feed, members in ordered:
        shown = members[: shares[feed]]
        digest.groups.append(
            SourceGroup(feed, tuple(_item(m, period, fmt) for m in shown), len(members))
        )
    digest.more = digest.total - len(digest.flagged) - sum(len(g.items) for g in digest.groups)
    _feed_health(digest, feeds, period, fmt, feed_label or _label)
    return digest


def _label(state: FeedState) -> str:
    return state.label or state.feed_url


def _feed_health(
    digest: Digest,
    feeds: list[FeedState],
    period: DigestPeriod,
    fmt: str,
    label: Callable[[FeedState], str],
) -> None:
    """Each feed's health into the digest: failing, warnings, or counted as fine."""
    for state in sorted(feeds, key=lambda f: label(f).lower()):
        health = FeedHealth(
            label=label(state),
            url=state.feed_url,
            status=state.status,
            error=state.last_error,
            since=period.local(state.failing_since).strftime(fmt) if state.failing_since else None,
            next_try=period.local(state.next_poll_at).strftime(fmt) if state.next_poll_at else None,
            failures=state.error_count,
            summary=state.last_summary,
        )
        if state.status == "error":
            digest.failing.append(health)
        elif state.status == "warning":
            digest.warnings.append(health)
        else:
            digest.feeds_ok += 1


def _item(mention: BrandMention, period: DigestPeriod, fmt: str) -> DigestItem:
    return DigestItem(
        id=mention.id,
        title=mention.title or mention.url,
        url=mention.url,
        host=_host(mention.url),
        publisher=mention.publisher or _host(mention.url),
        feed=mention.feed_label or mention.feed,
        snippet=mention.snippet or "",
        severity=mention.severity,
        category=mention.category,
        reason=mention.reason or "",
        first_seen=period.local(mention.first_seen).strftime(fmt),
        seen_count=mention.seen_count,
        alerted=mention.alerted_at is not None,
    )


def _host(url: str) -> str:
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]


def render_digest(digest: Digest) -> tuple[str, str]:
    """(plain text, HTML) of one digest."""
    context = {"d": digest}
    text = TEMPLATES.get_template("digest.txt").render(context)
    html = TEMPLATES.get_template("digest.html").render(context)
    return text, html


@dataclass(frozen=True, slots=True)
class TrustDigest:
    """The trust-wide digest: every school's mentions of the period, each with its school, to
    `digest.trust_recipients`. It reads mentions without taking them from the schools' own
    digests, and is claimed per period as school "*"."""

    name: str  # the trust's name
    schools: Schools

    def names(self, mentions: list[BrandMention]) -> dict[int, str]:
        return {m.id: self.schools.name_of(m.school) for m in mentions}

    def feed_label(self, state: FeedState) -> str:
        return f"{self.schools.name_of(state.school)}: {_label(state)}"


async def build_digest(
    store: Store, settings: DigestSettings, period: DigestPeriod, school: str,
    now: datetime | None = None, trust: TrustDigest | None = None,
) -> Digest:
    if trust is None:
        mentions: list[BrandMention] = await store.read(mentions_for_digest, period.end)
    else:
        mentions = await store.read(mentions_in_period, period.start, period.end)
    feeds: list[FeedState] = await store.read(feed_states)
    gateway = await store.read(gateway_summary, period.start, period.end)
    reviews = await store.read(mention_review_summary, period.start, period.end)
    # The trust's digest lists every school's feeds: each named with its school, as two
    # schools may watch the same alert under the same label.
    label = None if trust is None else trust.feed_label
    digest = assemble_digest(
        mentions, feeds, gateway, settings, period, school, now or utcnow(), reviews, label
    )
    if trust is not None:
        _name_schools(digest, trust.names(mentions))
    return digest


def _name_schools(digest: Digest, names: dict[int, str]) -> None:
    """Each listed mention with its school, and the count per school."""
    digest.flagged = [replace(item, school=names[item.id]) for item in digest.flagged]
    digest.groups = [
        replace(g, items=tuple(replace(item, school=names[item.id]) for item in g.items))
        for g in digest.groups
    ]
    digest.per_school = sorted(Counter(names.values()).items(), key=lambda p: (-p[1], p[0]))
    digest.mention_ids = []  # taken by no one: each school's own digest carries its own


def digest_message(
    digest: Digest, settings: DigestSettings, trust: TrustDigest | None = None
) -> tuple[str, str, EmailMessage]:
    text, html = render_digest(digest)
    domain = settings.sender.rpartition("@")[2] or "prevent-monitor.invalid"
    kind = "digest.trust" if trust else "digest"
    message_id = f"<{kind}.{digest.period.key.replace(':', '.')}@{domain}>"
    message = build_message(
        sender=settings.sender, to=settings.trust_recipients if trust else settings.recipients,
        subject=digest.subject, text=text, html=html, message_id=message_id,
    )  # fmt: skip
    return text, html, message


async def send_digest(
    store: Store, mailer: Mailer, settings: DigestSettings, period: DigestPeriod,
    school: str, school_id: str = DEFAULT_SCHOOL_ID, trust: TrustDigest | None = None,
) -> str:
    """Send the period's digest (a school's, or with `trust` the trust-wide one) unless it went
    already. Returns "sent", "already", "failed" or "no-recipients"."""
    recipients = settings.trust_recipients if trust else settings.recipients
    if not recipients:
        log.warning("digest: no recipients (digest.recipients); nothing sent")
        return "no-recipients"
    now = utcnow()
    digest_id = await store.write(
        claim_digest, period.key, period.start, period.end, ", ".join(recipients), now,
        ALL_SCHOOLS if trust else school_id,
    )
    if digest_id is None:
        return "already"
    title = trust.name if trust else school
    digest = await build_digest(store, settings, period, title, now, trust)
    _, _, message = digest_message(digest, settings, trust)
    sent = await mailer.send(message)
    await store.write(
        finish_digest, digest_id, sent=sent, when=utcnow(), mention_ids=digest.mention_ids,
        message_id=str(message["Message-ID"]), error=mailer.last_error,
    )
    return "sent" if sent else "failed"


async def run_digest(
    settings: DigestSettings,
    store: Store,
    stop_event: asyncio.Event,
    *,
    mailer: Mailer | None = None,
    school: str = "",
    school_id: str = DEFAULT_SCHOOL_ID,
    retry_after_failure: float = 900.0,
    trust: TrustDigest | None = None,
) -> None:
    """The daemon's digest schedule: send each period's digest once, at its time.

    On start, the latest period whose time has passed is sent if it never was (a daemon that was
    down at 07:30 sends when it comes back); earlier missed periods are covered by it, since a
    digest carries every mention not yet sent. A failed send is retried every
    `retry_after_failure` seconds until the next period is due."""
    if not settings.enabled:
        log.info("digest: disabled (digest.enabled: false)")
        return
    mailer = mailer or Mailer(settings)
    while not stop_event.is_set():
        period = digest_period(utcnow(), settings)
        claimed_as = ALL_SCHOOLS if trust else school_id
        sent = await store.read(digest_status, f"{claimed_as}:{period.key}")
        wait_until = period.next_end()
        if sent != "sent" and sent != "sending":
            outcome = await send_digest(
                store, mailer, settings, period, school, school_id, trust
            )
            log.info("digest %s: %s", period.key, outcome)
            if outcome == "failed":
                wait_until = min(wait_until, utcnow() + timedelta(seconds=retry_after_failure))
        delay = max(1.0, (wait_until - utcnow()).total_seconds())
        try:
            await asyncio.wait_for(stop_event.wait(), timeout=delay)
        except TimeoutError:
            continue

