"""`prevent-monitor db`: look after the events store.

- `db upgrade [--database-url URL]`: bring the schema to the newest revision (Alembic).
- `db purge [--dry-run] [--older-than DAYS] [--database-url URL]`: apply the retention rule
  (docs/store.md); `--dry-run` says what would go and changes nothing.

The URL comes from --database-url, else $PREVENT_MONITOR_DATABASE_URL, else the embedded SQLite
file `var/prevent-monitor.sqlite` (relative to the working directory).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from monitor.store.database import (
    DEFAULT_DATABASE_PATH,
    ENV_DATABASE_URL,
    make_engine,
    make_sessionmaker,
    normalise_url,
    resolve_database_url,
)
from monitor.store.migrate import upgrade
from monitor.store.retention import DEFAULT_RETENTION_DAYS, plan_purge, purge


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="upgrade or purge the flagged-events store")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    url_help = (
        f"database URL (default: ${ENV_DATABASE_URL}, else sqlite:///{DEFAULT_DATABASE_PATH})"
    )

    up = sub.add_parser("upgrade", help="bring the database schema up to date")
    up.add_argument("--database-url", help=url_help)
    up.set_defaults(func=run_upgrade)

    pu = sub.add_parser("purge", help="delete events older than the retention period")
    pu.add_argument("--database-url", help=url_help)
    pu.add_argument(
        "--older-than",
        type=int,
        default=DEFAULT_RETENTION_DAYS,
        metavar="DAYS",
        help=f"retention period in days (default {DEFAULT_RETENTION_DAYS})",
    )
    pu.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    pu.set_defaults(func=run_purge)


def _safe_url(url: str) -> str:
    return normalise_url(url).render_as_string(hide_password=True)


def run_upgrade(args: argparse.Namespace) -> int:
    url = resolve_database_url(args.database_url)
    try:
        revision = upgrade(url)
    except (ValueError, SQLAlchemyError, OSError) as exc:
        print(f"prevent-monitor db upgrade: cannot upgrade {url}: {exc}", file=sys.stderr)
        return 1
    print(f"{_safe_url(url)}: schema at revision {revision}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    url = resolve_database_url(args.database_url)
    if args.older_than < 0:
        print("prevent-monitor db purge: --older-than must be 0 or more days", file=sys.stderr)
        return 2
    try:
        engine = make_engine(url)
    except ValueError as exc:
        print(f"prevent-monitor db purge: {exc}", file=sys.stderr)
        return 2
    try:
        with make_sessionmaker(engine).begin() as session:
            plan = plan_purge(session, args.older_than)
            if args.dry_run:
                print(f"dry run, nothing deleted ({_safe_url(url)})\n{plan.describe()}")
                return 0
            result = purge(session, args.older_than)
        print(
            f"purged {result.events} events and {result.audit_entries} audit entries "
            f"last seen before {result.cutoff.isoformat(timespec='seconds')}; "
            f"kept {plan.held_open_cases} open cases"
        )
        return 0
    except SQLAlchemyError as exc:
        print(
            f"prevent-monitor db purge: {exc.__class__.__name__}: {exc}\n"
            "is the schema up to date? run `prevent-monitor db upgrade`",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
