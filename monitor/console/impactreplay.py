"""The impact preview's work: load both policies, then replay the last week through them.

`run_preview(job, store, policy_path, work)` runs on the preview thread
(`monitor.console.impactjob`), reading through the store's synchronous calls in batches:

1. the events first (the gateway's, last seen in the period), because they say which group each
   pupil was in: the gateway recorded the group it found, which may have come from the
   directory, and no other record keeps that;
2. then the context log, every request's host per pupil and minute.

Each blocked, flagged or study request is in both: a context row (its host) and an event (its
URL). It is counted once. When what the gateway did is what the policy in force does with the
host's front page, the host decided it, and the context row counts it (host against host). When
not, something beyond the host decided it (a path, a search, the page's text), and the event
counts it (URL against URL); so do events from before the context log starts (or with it off).
An allowed request is only in the context log.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from filters.replay import PolicyPair, Who
from monitor.console.impactfolder import PreviewRefused, load_pair, unrooted
from monitor.console.impactjob import COUNTING, DONE, FAILED, LOADING, PROBLEMS, READING, PreviewJob
from monitor.console.impacttally import ImpactResult, Tally
from monitor.events import utcnow
from monitor.store.impact import (
    Cursor,
    RecordedPeriod,
    context_batch,
    event_batch,
    minute_of,
    recorded_period,
    who_of,
)
from monitor.store.runner import Store

PERIOD = timedelta(days=7)
CONTEXT_BATCH = 20_000
EVENT_BATCH = 5_000


class Cancelled(Exception):
    """The job expired while it ran."""


def run_preview(job: PreviewJob, store: Store, policy_path: Path, work: Path) -> None:
    job.state = LOADING
    try:
        loaded = load_pair(policy_path, work, job.proposed)
    except PreviewRefused as exc:  # a file that could only be written through a link out
        job.problems, job.state = (str(exc),), PROBLEMS
        return
    finally:
        job.proposed = {}
    if loaded.proposed is None:
        job.problems, job.state = loaded.problems, PROBLEMS
        return
    if loaded.current is None:
        job.notes = (
            "The policy files in force do not load now (the gateway keeps the last policy "
            "that did), so there is nothing to compare this change with:",
            *loaded.current_problems,
        )
        job.state = FAILED
        return
    until = utcnow()
    replay = Replay(PolicyPair(loaded.current, loaded.proposed), job)
    try:
        result = replay.run(store, until - PERIOD, until, lambda s: unrooted(s, loaded.rename))
    except Cancelled:
        return
    job.result, job.state = result, DONE


class Replay:
    """One week through both policies, counted in a `Tally` (see the module docstring)."""

    def __init__(self, pair: PolicyPair, job: PreviewJob) -> None:
        self.pair = pair
        self.job = job
        self.tally = Tally()
        self._groups: dict[str, str | None] = {}  # identity -> group its events recorded
        self._whos: dict[str, Who] = {}
        self.unlogged = 0  # events from before the context log starts (or with it off)

    def run(
        self, store: Store, since: datetime, until: datetime, rename: Callable[[str], str]
    ) -> ImpactResult:
        started = time.perf_counter()
        self.job.state = COUNTING
        period = store.read_sync(recorded_period, since, until)
        self.job.total = period.context_rows + period.events
        self.job.state = READING
        visits = self._events(store, since, until, period)
        requests = self._context(store, since, until, period.first_context_id)
        self.tally.forget_people()
        return ImpactResult(
            since=since,
            until=until,
            seconds=time.perf_counter() - started,
            context_rows=period.context_rows,
            context_requests=requests,
            events=period.events,
            event_visits=visits,
            looked_up=self.pair.looked_up,
            decisions=self.pair.decided,
            context_from=period.context_from,
            unlogged_events=self.unlogged,
            rows=self.tally.rows(rename),
            headlines=self.tally.headlines(),
        )

    def _events(
        self, store: Store, since: datetime, until: datetime, period: RecordedPeriod
    ) -> int:
        pair, tally, groups = self.pair, self.tally, self._groups
        logged_from = period.context_from
        visits = 0
        after: Cursor | None = None
        while batch := self._batch(store, event_batch, since, until, after, EVENT_BATCH):
            for row in batch:
                visits += row.repeat_count
                groups[row.identity] = row.group
                who = Who(row.user, row.client_ip, row.group)
                when = row.last_seen
                if logged_from is None or when < logged_from:
                    self.unlogged += 1
                else:
                    before, _ = pair.case("h", row.host, who, when)
                    if before.value == row.action:
                        continue  # its host decided it: the context log's rows count it
                change = pair.url_change(row.url, who, when)
                if change is not None:
                    tally.add(change, row.host, row.repeat_count, tally.person(row.identity))
            after = (batch[-1].last_seen, batch[-1].pk)
        return visits

    def _context(self, store: Store, since: datetime, until: datetime, first_id: int) -> int:
        """The context log, in id order. The loop is the preview's hot path (a week is a
        million rows): most hosts are on no list of either policy, and cost one lookup."""
        pair, tally, who_for = self.pair, self.tally, self._who
        unlisted, is_unlisted, case = pair.unlisted, pair.is_unlisted, pair.case
        requests, after = 0, first_id - 1
        while batch := self._batch(store, context_batch, since, until, after, CONTEXT_BATCH):
            for _id, identity, minute, host, action, count in batch:
                requests += count
                if unlisted.get(host) or is_unlisted("h", host):
                    continue
                before, change = case("h", host, who_for(identity), minute_of(minute))
                if change is None or (action != "allow" and action != before.value):
                    continue  # the same, or decided on more than its host: its event counts
                tally.add(change, host, count, tally.person(identity))
            after = batch[-1][0]
        return requests

    def _who(self, identity: str) -> Who:
        who = self._whos.get(identity)
        if who is None:
            user, client_ip = who_of(identity)
            who = self._whos[identity] = Who(user, client_ip, self._groups.get(identity))
        return who

    def _batch(
        self,
        store: Store,
        read: Callable[..., Sequence[Any]],
        since: datetime,
        until: datetime,
        after: Any,
        limit: int,
    ) -> Sequence[Any]:
        """One keyset page of `read` (context_batch or event_batch), in its own transaction;
        empty at the end."""
        if self.job.cancelled:
            raise Cancelled
        batch = store.read_sync(read, since, until, after=after, limit=limit)
        self.job.done += len(batch)
        return batch
