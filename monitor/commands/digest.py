"""`prevent-monitor digest`: send the brand-alert digest now, or `--preview FILE` to write it.

    prevent-monitor digest --preview digest.html   # the HTML part (digest.txt beside it)
    prevent-monitor digest --send                  # send the current period's digest, once

The digest covers every mention no digest has carried yet (see alerts/digest.py). `--send` is
idempotent per period like the daemon's schedule: a period already sent is not sent again.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from alerts.digest import build_digest, digest_period, render_digest, send_digest
from alerts.mail import Mailer
from alerts.settings import DigestSettings
from monitor.commands.shared import add_config_option, read_config
from monitor.commands.storeurl import store_url
from monitor.store.database import make_engine
from monitor.store.runner import Store


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "digest",
        help="write (--preview) or send (--send) the brand-alert digest",
        description="Build the brand-alert digest from the store: write it to a file with "
        "--preview, or send it by email with --send (once per period).",
    )
    add_config_option(parser)
    parser.add_argument("--database-url", metavar="URL", help="the events store (default: config)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument(
        "--preview", metavar="FILE",
        help="write the HTML part to FILE and the text part beside it (FILE with .txt)",
    )
    action.add_argument("--send", action="store_true", help="send the current period's digest")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config, optional=bool(args.database_url))
    if config is None:
        return 2
    settings: DigestSettings = getattr(config, "digest", None) or DigestSettings()
    problems = settings.check()
    if problems:
        shown = "\n  ".join(problems)
        print(f"prevent-monitor: invalid digest settings:\n  {shown}", file=sys.stderr)
        return 2
    # The same store the daemon uses with this config (`database_url()`, which takes the
    # environment and the config file's folder into account), never a new one.
    url = store_url(args, "digest")
    if url is None:
        return 2
    engine = make_engine(url)
    store = Store(engine)
    try:
        return asyncio.run(_run(args, settings, store, config.school))
    finally:
        store.close()
        engine.dispose()


async def _run(
    args: argparse.Namespace, settings: DigestSettings, store: Store, school: str
) -> int:
    period = digest_period(datetime.now(UTC), settings)
    if args.preview:
        # What the next digest would say now: everything not yet sent.
        digest = await build_digest(store, settings, period.following(), school)
        text, html = render_digest(digest)
        target = Path(args.preview)
        target.write_text(html, encoding="utf-8")
        target.with_suffix(".txt").write_text(text, encoding="utf-8")
        print(f"{digest.subject}\nwrote {target} and {target.with_suffix('.txt')}")
        return 0
    outcome = await send_digest(store, Mailer(settings), settings, period, school)
    print(f"digest {period.key}: {outcome}")
    return 0 if outcome in ("sent", "already") else 1
