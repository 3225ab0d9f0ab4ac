"""Prometheus metrics (prometheus-client) for IT staff's monitoring: the registry and its counters.

Every process of the daemon (each gateway, the watcher, the console) keeps its own registry and
serves it with `monitor.metricsserver.start_metrics_server()` on its own port, as Prometheus
expects of a multi-process service: scrape each. Labels are bounded: actions and categories
come from the policy, feeds from the config; no label ever holds a URL, a user or an address.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

DECISIONS = Counter(
    "prevent_monitor_decisions_total",
    "Gateway decisions by action and category.",
    ["action", "category"],
)
DECISION_SECONDS = Histogram(
    "prevent_monitor_decision_seconds",
    "Time the policy engine took to decide one request.",
    buckets=(5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 5e-3, 1e-2),
)
FILTER_FAULTS = Counter(
    "prevent_monitor_filter_faults_total",
    "Faults in the gateway addon, each answered with the configured fail mode.",
)
EVENT_QUEUE_DEPTH = Gauge(
    "prevent_monitor_event_queue_depth", "Events handed to the writer and not yet stored."
)
EVENT_SPOOL_BYTES = Gauge(
    "prevent_monitor_event_spool_bytes", "Bytes of events waiting in the spool for the database."
)
EVENTS_WRITTEN = Gauge(
    "prevent_monitor_events_written", "Events stored by this process's writer since it started."
)
EVENTS_DROPPED = Gauge(
    "prevent_monitor_events_dropped",
    "Events lost because neither the database nor the spool could take them (should be 0).",
)
CONTEXT_WRITTEN = Gauge(
    "prevent_monitor_context_requests_written",
    "Requests stored in the host-only context log (folded per minute) since start.",
)
CONTEXT_DROPPED = Gauge(
    "prevent_monitor_context_requests_dropped",
    "Requests left out of the context log because the database was away (never spooled).",
)
POLICY_VERSION = Gauge(
    "prevent_monitor_policy_info", "The policy version in force (value 1).", ["version"]
)
POLICY_LAST_RELOAD = Gauge(
    "prevent_monitor_policy_last_reload_timestamp_seconds",
    "When the policy in force was loaded (Unix time).",
)
POLICY_RELOAD_FAILURES = Counter(
    "prevent_monitor_policy_reload_failures_total",
    "Reloads refused because a list or the policy had problems (the old policy stayed).",
)
FEED_UP = Gauge(
    "prevent_monitor_feed_up", "1 if the feed's last poll succeeded, 0 if it failed.", ["feed"]
)
FEED_CONSECUTIVE_ERRORS = Gauge(
    "prevent_monitor_feed_consecutive_errors", "Failed polls in a row, per feed.", ["feed"]
)


def set_policy(version: str, loaded_at: float | None = None) -> None:
    POLICY_VERSION.clear()
    POLICY_VERSION.labels(version).set(1)
    POLICY_LAST_RELOAD.set(loaded_at or time.time())


def observe_writer(stats: Any) -> None:
    """Copy an EventWriter's stats into the gauges (called at scrape time)."""
    EVENT_QUEUE_DEPTH.set(getattr(stats, "queue_depth", 0))
    EVENT_SPOOL_BYTES.set(getattr(stats, "spool_bytes", 0))
    EVENTS_WRITTEN.set(getattr(stats, "written", 0))
    EVENTS_DROPPED.set(getattr(stats, "dropped", 0))
    CONTEXT_WRITTEN.set(getattr(stats, "context_written", 0))
    CONTEXT_DROPPED.set(getattr(stats, "context_dropped", 0))


class WriterReport:
    """An EventWriter's stats as a status file and `/healthz` give them: the queue, the spool,
    what was stored, and the write rate (events stored per second, new or folded into an
    existing event) since the previous report; None for the first, or after the writer
    restarted."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: tuple[float, int] | None = None

    def __call__(self, stats: Any) -> dict[str, Any]:
        now = self._clock()
        stored = int(stats.written) + int(stats.folded)
        rate = None
        if self._last is not None and now > self._last[0] and stored >= self._last[1]:
            rate = round((stored - self._last[1]) / (now - self._last[0]), 2)
        self._last = (now, stored)
        return {
            "database_up": bool(stats.database_up),
            "queue_depth": stats.queue_depth,
            "spool_records": stats.spool_records,
            "spool_bytes": stats.spool_bytes,
            "held": stats.held,
            "submitted": stats.submitted,
            "written": stats.written,
            "folded": stats.folded,
            "spooled": stats.spooled,
            "replayed": stats.replayed,
            "rejected": stats.errors,
            "spool_errors": stats.spool_errors,
            "dropped": stats.dropped,
            "context_dropped": stats.context_dropped,
            "write_rate": rate,
        }
