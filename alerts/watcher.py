"""The brand-alert watcher: poll every feed, find the school named, classify, store, alert.

    watcher = Watcher(settings, policy_provider, store, writer=writer, mailer=mailer)
    await watcher.poll_once()          # one full cycle now (`prevent-monitor watch --once`)
    await watcher.run(stop_event)      # the daemon's task: each feed on its own schedule

or, for the daemon, `await run_watcher(settings, policy_provider, store, stop_event, ...)`.

One poll of one feed: fetch (alerts.fetch), read (alerts.feeds), and for each entry
(alerts.entries) unwrap and canonicalise its link (alerts.links), look for the school's name in
its title and snippet (alerts.brand), classify it (alerts.classify), then store the feed's
state and the mentions in one transaction (monitor.store.mentions). A new mention at or above
`alert_severity` becomes a `FlaggedEvent` (handed to the store's writer without waiting) and is
emailed to the Prevent lead at once; the rest wait for the digest. The article itself is never
fetched.

Backlog rule for a new feed (documented in docs/watcher.md): on a feed's first successful poll,
entries published more than `backlog_days` ago are stored as `backlog` mentions. They are not
listed in the digest (only counted), so adding a feed does not flood it with old news, and later
polls never report them as new. A backlog entry at or above `alert_severity` is not held back:
it is flagged and emailed like any other.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import random
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from alerts.addresses import guard_from
from alerts.backoff import next_poll_after_failure, next_poll_after_success
from alerts.brand import BrandMatcher
from alerts.entries import read_entries
from alerts.feeds import FeedDocument, read_feed
from alerts.fetch import FeedFetcher, FetchLimits, FetchResult
from alerts.mail import Mailer
from alerts.settings import FeedSource, WatcherSettings
from filters.decision import Action, Kind, Severity
from filters.policy import Policy
from monitor.events import EventSink, FlaggedEvent, Source, utcnow
from monitor.schools import DEFAULT_SCHOOL_ID
from monitor.store.mentions import (
    FeedPoll,
    NewMention,
    alerts_due,
    load_feed_states,
    mark_alerted,
    record_poll,
)
from monitor.store.models import FeedState
from monitor.store.runner import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PollReport:
    """How one poll went, for logs, `watch --once` and tests."""

    source: FeedSource
    status: str  # ok | warning | error
    summary: str
    new_mentions: int = 0
    flagged: int = 0
    error: str | None = None
    next_poll_at: datetime | None = None


class Watcher:
    def __init__(
        self,
        settings: WatcherSettings,
        policy_provider: Callable[[], Policy],
        store: Store,
        *,
        writer: EventSink | None = None,
        mailer: Mailer | None = None,
        school: str = "",
        school_id: str = DEFAULT_SCHOOL_ID,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.policy_provider = policy_provider
        self.store = store
        self.writer = writer
        self.mailer = mailer
        self.school = school
        self.school_id = school_id  # every mention is stored under it
        self.rng = rng or random.Random()
        self.problems: list[str] = []
        self.sources = settings.feed_sources(self.problems)
        networks = settings.networks(self.problems)
        terms = settings.brand_terms or ([school] if school else [])
        self.brand = BrandMatcher(terms, settings.exclude_terms, settings.exclude_window_words)
        self.alert_level = settings.alert_level()
        self.guard = guard_from(settings.allow_private_addresses, networks)
        self.limits = FetchLimits(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            total_timeout=settings.total_timeout,
            max_body_bytes=settings.max_body_bytes,
            max_redirects=settings.max_redirects,
            max_concurrent=settings.max_concurrent,
            max_per_host=settings.max_per_host,
            user_agent=settings.user_agent,
        )
        self._alerting = asyncio.Lock()
        self._parsers: ProcessPoolExecutor | None = None

    def _start_parsers(self) -> None:
        if self.settings.parse_workers > 0 and self._parsers is None:
            # forkserver: never fork a process that has database and resolver threads.
            context = multiprocessing.get_context("forkserver")
            self._parsers = ProcessPoolExecutor(self.settings.parse_workers, mp_context=context)

    def _stop_parsers(self) -> None:
        if self._parsers is not None:
            self._parsers.shutdown(wait=True, cancel_futures=True)
            self._parsers = None

    async def _read_feed(self, result: FetchResult) -> FeedDocument:
        if self._parsers is None:
            return await asyncio.to_thread(read_feed, result.body, result.content_type)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._parsers, read_feed, result.body, result.content_type
            )
        except BrokenProcessPool:  # a parser process died (out of memory?): start afresh
            self._stop_parsers()
            self._start_parsers()
            return FeedDocument(error="the feed parser process failed on this feed")

    # -- entry points ------------------------------------------------------------------------

    async def poll_once(self, sources: Sequence[FeedSource] | None = None) -> list[PollReport]:
        """Poll every source (or those given) now, whatever their schedule."""
        chosen = list(sources if sources is not None else self.sources)
        states = await self.store.read(load_feed_states, self.school_id, [s.url for s in chosen])
        self._start_parsers()
        try:
            async with FeedFetcher(self.limits, self.guard) as fetcher:
                reports = await asyncio.gather(
                    *(self._poll(fetcher, source, states.get(source.url)) for source in chosen)
                )
        finally:
            self._stop_parsers()
        await self.send_alerts()
        return list(reports)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll each feed on its own schedule until `stop` is set. Never raises for a feed."""
        for problem in self.problems:
            log.error("brand watcher: %s", problem)
        if not self.sources:
            log.warning("brand watcher: no feeds configured (watcher.sources); nothing to poll")
        states = await self.store.read(
            load_feed_states, self.school_id, [s.url for s in self.sources]
        )
        now = utcnow()
        due: dict[str, datetime] = {}
        for source in self.sources:
            state = states.get(source.url)
            if state is not None and state.next_poll_at is not None:
                due[source.url] = state.next_poll_at
            else:  # a new feed: within the first minute, spread out
                due[source.url] = now + timedelta(seconds=self.rng.uniform(0, 60))
        running: dict[asyncio.Future[Any], FeedSource] = {}
        stopper: asyncio.Future[Any] = asyncio.ensure_future(stop.wait())
        self._start_parsers()
        try:
            async with FeedFetcher(self.limits, self.guard) as fetcher:
                while not stop.is_set():
                    now = utcnow()
                    busy = {source.url for source in running.values()}
                    for source in self.sources:
                        if source.url not in busy and due[source.url] <= now:
                            polling = asyncio.ensure_future(self._poll_fresh(fetcher, source))
                            running[polling] = source
                            due[source.url] = now + timedelta(days=1)  # until it reports
                    wake = min(due.values(), default=now + timedelta(minutes=5))
                    timeout = max(0.05, min(300.0, (wake - utcnow()).total_seconds()))
                    done, _ = await asyncio.wait(
                        [stopper, *running], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    for finished in done:
                        if finished is stopper:
                            continue
                        source = running.pop(finished)
                        due[source.url] = self._next_due(finished, source)
                    if done - {stopper}:
                        await self.send_alerts()
        finally:
            self._stop_parsers()
            stopper.cancel()
            for pending in running:
                pending.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _next_due(self, task: asyncio.Future[Any], source: FeedSource) -> datetime:
        try:
            report: PollReport = task.result()
        except Exception:
            log.exception("brand watcher: polling %s failed unexpectedly", source.label)
            return utcnow() + timedelta(minutes=self.settings.interval_minutes)
        return report.next_poll_at or utcnow() + timedelta(minutes=self.settings.interval_minutes)

    async def _poll_fresh(self, fetcher: FeedFetcher, source: FeedSource) -> PollReport:
        states = await self.store.read(load_feed_states, self.school_id, [source.url])
        return await self._poll(fetcher, source, states.get(source.url))

    # -- one feed ----------------------------------------------------------------------------

    async def _poll(
        self, fetcher: FeedFetcher, source: FeedSource, state: FeedState | None
    ) -> PollReport:
        try:
            return await self._poll_feed(fetcher, source, state)
        except Exception as exc:  # a bug must cost one poll of one feed, never the watcher
            log.exception("brand watcher: unexpected error polling %s", source.url)
            return PollReport(source, "error", "internal error", error=repr(exc)[:300])

    async def _poll_feed(
        self, fetcher: FeedFetcher, source: FeedSource, state: FeedState | None
    ) -> PollReport:
        etag = state.etag if state else None
        modified = state.last_modified if state else None
        failures = state.error_count if state else 0
        result = await fetcher.fetch(source.url, etag, modified)
        now = utcnow()
        poll = FeedPoll(
            feed_url=source.url, label=source.label, kind=source.kind, polled_at=now,
            next_poll_at=now, status="ok", http_status=result.status, school=self.school_id,
        )
        if result.outcome == "not-modified":
            poll.summary = "not modified since the last poll (HTTP 304)"
            poll.status = state.status if state and state.status == "warning" else "ok"
            poll.error = state.last_error if poll.status == "warning" and state else None
            return await self._finish(source, poll)
        document: FeedDocument | None = None
        if result.outcome == "ok":
            first_poll = state is None or state.last_success_at is None
            document = await self._read_feed(result)
            counts, items = read_entries(
                document, self.policy_provider(), self.brand, self.settings, self.alert_level,
                first_poll=first_poll, now=now,
            )  # fmt: skip
            if document is not None and document.ok:
                poll.items = items
                poll.keep_validators = False
                poll.etag, poll.last_modified = result.etag, result.last_modified
                poll.status = "warning" if document.warning else "ok"
                poll.error = document.warning
                poll.summary = counts.summary()
                return await self._finish(source, poll)
        error = (document.error if document is not None else None) or result.error or "failed"
        poll.status = "error"
        poll.error = error
        poll.error_count = failures + 1
        poll.summary = f"failed ({poll.error_count} in a row)"
        poll.next_poll_at = next_poll_after_failure(
            now, poll.error_count, self.settings.interval_minutes * 60,
            self.settings.max_backoff_hours * 3600, self.settings.jitter_fraction,
            result.retry_after, self.rng,
        )
        log.warning("brand watcher: %s (%s): %s", source.label, source.url, error)
        return await self._finish(source, poll)

    async def _finish(self, source: FeedSource, poll: FeedPoll) -> PollReport:
        if poll.status != "error":
            poll.next_poll_at = next_poll_after_success(
                poll.polled_at, self.settings.interval_minutes * 60,
                self.settings.jitter_fraction, self.rng,
            )
        new = await self.store.write(record_poll, poll)
        flagged = self._submit_events(source, new)
        if new:
            poll.summary += f"; {len(new)} new"
        return PollReport(
            source, poll.status, poll.summary, len(new), flagged, poll.error, poll.next_poll_at
        )

    def _submit_events(self, source: FeedSource, new: list[NewMention]) -> int:
        flagged = 0
        for mention in new:
            item = mention.item
            if item.event_id is None:
                continue
            flagged += 1
            if self.writer is None:
                continue
            name = self.school or (self.brand.terms[0] if self.brand.terms else "the school")
            self.writer.submit(
                FlaggedEvent(
                    source=Source.BRAND_WATCH,
                    kind=Kind.MENTION,
                    action=Action.FLAG,
                    category=item.category,
                    severity=item.severity,
                    rule=item.rule,
                    url=item.url,
                    host=item.host,
                    reason=f"{name} named online ({source.label}): {item.reason}"[:2000],
                    rule_source=item.rule_source,
                    policy_version=self._policy_version(),
                    id=item.event_id,
                )
            )
        return flagged

    def _policy_version(self) -> str | None:
        try:
            return self.policy_provider().version
        except Exception:
            return None

    # -- immediate alerts --------------------------------------------------------------------

    async def send_alerts(self) -> int:
        """Email the Prevent lead every high mention not yet emailed; returns how many went."""
        if self.mailer is None or not self.mailer.prevent_lead:
            return 0
        async with self._alerting:  # one sender at a time: no mention is emailed twice
            due = await self.store.read(alerts_due, int(self.alert_level))
            if not due:
                return 0
            sent = await self.mailer.send_alert(due, self.school)
            if not sent:
                return 0  # kept: tried again after the next poll
            await self.store.write(mark_alerted, [m.id for m in due], utcnow())
            return len(due)


async def run_watcher(
    settings: WatcherSettings,
    policy_provider: Callable[[], Policy],
    store: Store,
    stop_event: asyncio.Event,
    *,
    writer: EventSink | None = None,
    mailer: Mailer | None = None,
    school: str = "",
    school_id: str = DEFAULT_SCHOOL_ID,
) -> None:
    """The daemon's task: run the watcher until `stop_event` is set."""
    if not settings.enabled:
        log.info("brand watcher: disabled (watcher.enabled: false)")
        return
    watcher = Watcher(
        settings, policy_provider, store, writer=writer, mailer=mailer, school=school,
        school_id=school_id,
    )  # fmt: skip
    await watcher.run(stop_event)



__all__ = ["PollReport", "Severity", "Watcher", "run_watcher"]
