"""`prevent-monitor watch`: the brand-alert watcher and the digest schedule, as one process.

Without `--once` it runs until SIGTERM (the daemon's watcher part, and the systemd watcher unit):
feeds polled on their intervals, the digest sent at its time, the policy reloaded when its files
change or on SIGHUP (by `monitor.policyreload.PolicyReloader`, as in the gateway: a refused change
is logged, counted and shown on health, never put in the Prevent lead's queue), instant alerts of
serious gateway events to the Prevent lead (alerts/instant.py), `/healthz` and `/metrics` on
`metrics.watcher_port`, and a status file (`<data_dir>/watcher-status.json`, rewritten every few
seconds) for the console's health page. With
`--once` it polls every feed now and says what each gave (for setting up feeds and for cron-style
use). High-severity mentions are recorded as events and emailed to the Prevent lead either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from datetime import timedelta
from typing import Any

from alerts.digest import TrustDigest, run_digest
from alerts.instant import InstantAlerts
from alerts.mail import Mailer
from alerts.watcher import Watcher, run_watcher
from filters.live import LivePolicy
from filters.policy import PolicyError
from monitor import metrics, metricsserver
from monitor.commands.shared import add_config_option, read_config
from monitor.config import Config
from monitor.firstrun import prepare_embedded_store
from monitor.policyreload import WATCHER_STATUS_FILE, PolicyReloader
from monitor.store import scope
from monitor.store.database import make_engine
from monitor.store.mentions import feed_states
from monitor.store.runner import Store
from monitor.store.writer import EventWriter

log = logging.getLogger("prevent_monitor.watcher")
FEED_METRICS_EVERY = 15.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "watch",
        help="run the brand-alert watcher and digest schedule (or poll once)",
        description="Run the brand-alert watcher and the digest schedule until stopped, or "
        "with --once poll every feed now and report.",
    )
    add_config_option(parser)
    parser.add_argument("--database-url", metavar="URL", help="the events store (default: config)")
    parser.add_argument("--once", action="store_true", help="poll every feed once and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config, part="watcher")
    if config is None:
        return 2
    problems = config.watcher.check() + config.digest.check() + config.alerting.check()
    if problems:
        shown = "\n  ".join(problems)
        print(f"prevent-monitor: invalid watcher settings:\n  {shown}", file=sys.stderr)
        return 2
    try:
        live = LivePolicy.load(config.policy_path())
    except PolicyError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return 2
    url = args.database_url or config.database_url()
    prepare_embedded_store(url, config.school_id)
    return asyncio.run(_main(config, live, url, once=args.once))


async def _main(config: Config, live: LivePolicy, url: str, *, once: bool) -> int:
    # This process is one school's watcher, alerts and digest: everything it reads from a
    # trust's shared store is that school's, and only its own leads are written to.
    scope.enter({config.school_id})
    engine = make_engine(url)
    writer = EventWriter(
        url,
        spool_dir=str(config.path(config.database.spool_dir)),
        fold_window=timedelta(minutes=config.database.fold_window_minutes),
        engine=engine,
        schools=config.schools(),
    )
    writer.start()
    # One writer thread for the process: the watcher's and the digest's writes run on the
    # event writer's thread, in turn with its batches.
    store = Store(engine, writer=writer)
    mailer = Mailer(config.digest)
    try:
        if once:
            return await _poll_once(config, live, store, writer, mailer)
        await _run_until_stopped(config, live, store, writer, mailer)
        return 0
    finally:
        await asyncio.to_thread(writer.close)
        store.close()
        engine.dispose()


async def _poll_once(
    config: Config, live: LivePolicy, store: Store, writer: EventWriter, mailer: Mailer
) -> int:
    watcher = Watcher(
        config.watcher,
        lambda: live.current,
        store,
        writer=writer,
        mailer=mailer,
        school=config.school,
        school_id=config.school_id,
    )
    failed = 0
    for report in await watcher.poll_once():
        failed += report.status == "error"
        detail = f": {report.error}" if report.error else ""
        print(f"{report.status:7} {report.source.label}: {report.summary}{detail}")
    return 1 if failed else 0


async def _run_until_stopped(
    config: Config, live: LivePolicy, store: Store, writer: EventWriter, mailer: Mailer
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    metrics.set_policy(live.current.version, live.loaded_at)
    alerts = InstantAlerts(
        config.alerting, mailer, store.write, school=config.school, console_url=config.console_url()
    )
    writer_report = metrics.WriterReport()
    # The same reloader as the gateway's: a refused change is logged, counted and shown on
    # /healthz (policy_errors, with file:line) and the status file; not a safeguarding event.
    reloader = PolicyReloader(
        live,
        status_file=str(config.data_path(WATCHER_STATUS_FILE)),
        status_extra=lambda: {
            "part": "watcher",
            "feeds": len(config.watcher.sources),
            "writer": writer_report(writer.stats),
            "instant_alerts": alerts.health_report() if config.alerting.enabled else "off",
        },
    )

    def health() -> dict[str, Any]:
        stats = writer.stats
        return {
            "ok": True,
            "policy_version": live.current.version,
            "policy_errors": list(reloader.errors),
            "event_queue": stats.queue_depth,
            "database_up": stats.database_up,
            "instant_alerts": alerts.health_report() if config.alerting.enabled else "off",
        }

    server = await metricsserver.start_metrics_server(
        config.metrics.host,
        config.metrics.watcher_port,
        health,
        before_scrape=lambda: metrics.observe_writer(writer.stats),
    )
    tasks = _start_tasks(config, live, store, writer, mailer, alerts, stop)
    reloader.start(max(1.0, config.policy.reload_interval))
    log.info("brand watcher running (%d feeds)", len(config.watcher.sources))
    await stop.wait()
    reloader.stop()
    await asyncio.to_thread(reloader.stopped)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.cleanup()


def _start_tasks(
    config: Config,
    live: LivePolicy,
    store: Store,
    writer: EventWriter,
    mailer: Mailer,
    alerts: InstantAlerts,
    stop: asyncio.Event,
) -> list[asyncio.Task[Any]]:
    """The watcher process's concurrent jobs: feeds, feed metrics, instant alerts, digest."""
    tasks = [
        asyncio.create_task(
            run_watcher(
                config.watcher,
                lambda: live.current,
                store,
                stop,
                writer=writer,
                mailer=mailer,
                school=config.school,
                school_id=config.school_id,
            ),
            name="watcher",
        ),
        asyncio.create_task(_feed_metrics(store, stop), name="feed-metrics"),
    ]
    if config.alerting.enabled:
        tasks.append(asyncio.create_task(alerts.run_until(stop), name="instant-alerts"))
    if config.digest.enabled and config.digest.trust_recipients:
        # Every school's mentions: this one task runs outside the process's school scope.
        trust = TrustDigest(config.trust.name or config.school, config.schools())
        with scope.only_schools(None):
            tasks.append(
                asyncio.create_task(
                    run_digest(
                        config.digest, store, stop, mailer=mailer, school=trust.name,
                        school_id=config.school_id, trust=trust,
                    ),
                    name="trust-digest",
                )
            )  # fmt: skip
    if config.digest.enabled:
        tasks.append(
            asyncio.create_task(
                run_digest(
                    config.digest, store, stop, mailer=mailer, school=config.school,
                    school_id=config.school_id,
                ),
                name="digest",
            )
        )
    return tasks


async def _feed_metrics(store: Store, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            states = await store.read(feed_states)
        except Exception as exc:  # the database may be away: the gauges wait for it
            log.warning("cannot read feed states for metrics: %s", exc)
            states = []
        for state in states:
            feed = state.label or state.feed_url
            metrics.FEED_UP.labels(feed).set(0 if state.status == "error" else 1)
            metrics.FEED_CONSECUTIVE_ERRORS.labels(feed).set(state.error_count or 0)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=FEED_METRICS_EVERY)
