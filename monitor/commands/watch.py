"""`prevent-monitor watch --once`: poll every brand-alert feed now and say what each gave.

The daemon (`prevent-monitor run`) runs the watcher continuously; this is for setting up feeds
and for cron-style use. High-severity mentions are recorded as events and emailed to the Prevent
lead exactly as the daemon would.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta

from alerts.mail import Mailer
from alerts.settings import DigestSettings, WatcherSettings
from alerts.store import AlertStore
from alerts.watcher import Watcher
from filters.policy import Policy, PolicyError
from monitor.config import ConfigError, load_config
from monitor.store import make_engine, resolve_database_url, upgrade
from monitor.store.writer import EventWriter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "watch",
        help="poll the brand-alert feeds once",
        description="Poll every brand-alert feed in the configuration once and report.",
    )
    parser.add_argument("--config", metavar="FILE", help="the daemon's configuration file")
    parser.add_argument("--database-url", metavar="URL", help="the events store (default: config)")
    parser.add_argument("--once", action="store_true", required=True, help="poll once and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return 2
    settings: WatcherSettings = getattr(config, "watcher", None) or WatcherSettings()
    digest: DigestSettings = getattr(config, "digest", None) or DigestSettings()
    problems = settings.check()
    if problems:
        shown = "\n  ".join(problems)
        print(f"prevent-monitor: invalid watcher settings:\n  {shown}", file=sys.stderr)
        return 2
    try:
        policy = Policy.load(config.path(config.policy.file))
    except PolicyError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return 2
    url = args.database_url or (config.database.url if args.config else resolve_database_url(None))
    upgrade(url)
    engine = make_engine(url)
    store = AlertStore(engine)
    writer = EventWriter(
        url, spool_dir=str(config.path(config.database.spool_dir)),
        fold_window=timedelta(minutes=config.database.fold_window_minutes), engine=engine,
    )
    writer.start()
    try:
        watcher = Watcher(
            settings, lambda: policy, store, writer=writer, mailer=Mailer(digest),
            school=config.school,
        )
        reports = asyncio.run(watcher.poll_once())
    finally:
        writer.close()
        store.close()
        engine.dispose()
    failed = 0
    for report in reports:
        failed += report.status == "error"
        detail = f": {report.error}" if report.error else ""
        print(f"{report.status:7} {report.source.label}: {report.summary}{detail}")
    return 1 if failed else 0
