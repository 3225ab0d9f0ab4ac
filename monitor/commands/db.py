"""`prevent-monitor db`: look after the events store.

- `db upgrade [--config FILE | --database-url URL]`: bring the schema to the newest revision.
- `db purge [--dry-run] [--older-than DAYS] [--config FILE | --database-url URL]`: apply the
  retention rules (docs/store.md); `--dry-run` says what would go and changes nothing.

Which database: --database-url if given; else, with --config, the URL the daemon would use with
that file (`Config.database_url()`: $PREVENT_MONITOR_DATABASE_URL if set, else the file's
`database.url` with a relative SQLite path taken from the file's folder and the password
merged). The config is found as every command finds it: --config, else $PREVENT_MONITOR_CONFIG,
else /etc/prevent-monitor/prevent-monitor.yaml. With no config file, $PREVENT_MONITOR_DATABASE_URL
alone will do; with neither, the command refuses and names the file it looked for. `db purge`
never creates a store. The retention period is --older-than, else the config's
`database.retention_days`, else 365 days; the host-only context log's is the config's
`gateway.context_log_days`, else 7 days.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.store.contextlog import DEFAULT_CONTEXT_DAYS
from monitor.store.database import (
    ENV_DATABASE_URL,
    StoreError,
    make_engine,
    make_sessionmaker,
    normalise_url,
    resolve_database_url,
)
from monitor.store.migrate import StoreNotReady, check_ready, upgrade
from monitor.store.retention import DEFAULT_RETENTION_DAYS, plan_purge, purge


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="upgrade or purge the flagged-events store")
    sub = parser.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    up = sub.add_parser("upgrade", help="bring the database schema up to date")
    _add_target(up)
    up.set_defaults(func=run_upgrade)

    pu = sub.add_parser(
        "purge", help="delete events, decided unblock requests and brand mentions past retention"
    )
    _add_target(pu)
    pu.add_argument(
        "--older-than",
        type=int,
        default=None,
        metavar="DAYS",
        help="retention period in days (default: the config's database.retention_days, "
        f"else {DEFAULT_RETENTION_DAYS})",
    )
    pu.add_argument("--dry-run", action="store_true", help="say what would go; change nothing")
    pu.set_defaults(func=run_purge)


def _add_target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="database URL (wins over --config; default: the URL the daemon uses with "
        f"the config, which takes ${ENV_DATABASE_URL} over the file's)",
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="the daemon's configuration file: use its database and retention period "
        "(default: $PREVENT_MONITOR_CONFIG, else /etc/prevent-monitor/prevent-monitor.yaml)",
    )


@dataclass(frozen=True, slots=True)
class Target:
    """The database a command works on, and the retention period that applies to it."""

    url: str
    retention_days: int
    context_days: int = DEFAULT_CONTEXT_DAYS  # the host-only context log's own period
    policy_path: Path | None = None  # its console-written exemptions are purged too
    school_id: str | None = None  # where rows from before schools existed go (migration 0011)


class TargetError(Exception):
    """The configuration file could not be used; the message says where and why."""


def resolve_target(database_url: str | None, config_path: str | None) -> Target:
    """--database-url, else the daemon's URL for the config every command finds (--config, else
    $PREVENT_MONITOR_CONFIG, else the default path), else $PREVENT_MONITOR_DATABASE_URL on its
    own. With none of them it refuses, naming the config file it looked for: a `db` command never
    works on a store nobody configured. The retention period comes from the config if there is
    one."""
    # Imported here so that `db --database-url` keeps working whatever the config module
    # imports (it pulls in every part's settings).
    from monitor.config import ConfigError, find_config, load_config

    try:
        path = find_config(config_path)
    except ConfigError as exc:
        if database_url or os.environ.get(ENV_DATABASE_URL):
            return Target(resolve_database_url(database_url), DEFAULT_RETENTION_DAYS)
        raise TargetError(str(exc)) from None
    try:
        config = load_config(path)
        url = database_url or config.database_url()
    except ConfigError as exc:
        if database_url and config_path is None:  # an unusable default config is not asked for
            return Target(database_url, DEFAULT_RETENTION_DAYS)
        raise TargetError(str(exc)) from None
    except Exception as exc:  # e.g. a database.url that is not a URL at all
        raise TargetError(f"{path}: database.url: {exc}") from None
    return Target(
        url,
        config.database.retention_days,
        config.gateway.context_log_days,
        config.policy_path(),
        config.school_id,
    )


def _target(args: argparse.Namespace, command: str) -> Target | None:
    try:
        return resolve_target(args.database_url, args.config)
    except TargetError as exc:
        print(f"prevent-monitor db {command}: {exc}", file=sys.stderr)
        return None


def _safe_url(url: str) -> str:
    try:
        return normalise_url(url).render_as_string(hide_password=True)
    except ValueError:
        return "(unusable database URL)"


def _hint(exc: StoreError) -> str:
    text = str(exc).lower()
    if "locked" in text:
        return "another process holds the database's write lock: try again in a minute"
    return "is the schema up to date? run `prevent-monitor db upgrade`"


def run_upgrade(args: argparse.Namespace) -> int:
    target = _target(args, "upgrade")
    if target is None:
        return 2
    try:
        revision = upgrade(target.url, default_school=target.school_id)
    except (ValueError, StoreError, OSError) as exc:
        print(
            f"prevent-monitor db upgrade: cannot upgrade {_safe_url(target.url)}: {exc}",
            file=sys.stderr,
        )
        return 1
    print(f"{_safe_url(target.url)}: schema at revision {revision}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    target = _target(args, "purge")
    if target is None:
        return 2
    days = args.older_than if args.older_than is not None else target.retention_days
    if days < 0:
        where = "--older-than" if args.older_than is not None else "database.retention_days"
        print(f"prevent-monitor db purge: {where} must be 0 or more days", file=sys.stderr)
        return 2
    try:
        check_ready(target.url)
        engine = make_engine(target.url)
    except ValueError as exc:
        print(f"prevent-monitor db purge: {exc}", file=sys.stderr)
        return 2
    except StoreNotReady as exc:
        print(f"prevent-monitor db purge: {_safe_url(target.url)}: {exc}", file=sys.stderr)
        print("prepare it first: prevent-monitor db upgrade (same options)", file=sys.stderr)
        return 1
    try:
        with make_sessionmaker(engine).begin() as session:
            plan = plan_purge(session, days, context_days=target.context_days)
            if args.dry_run:
                print(
                    f"dry run, nothing deleted ({_safe_url(target.url)}, "
                    f"retention {days} days)\n{plan.describe()}"
                )
                return 0
            result = purge(session, days, context_days=target.context_days)
        print(
            f"{result}; kept {plan.held_open_cases} open cases, "
            f"{plan.held_pending_requests} pending unblock requests and "
            f"{plan.held_mentions} brand mentions of kept events"
        )
        if target.policy_path is not None:
            from monitor.console.policyedit import purge_ended_exemptions

            gone = purge_ended_exemptions(target.policy_path, days, datetime.now(UTC).date())
            print(f"study exemptions ended over {days} days ago, removed from the policy: {gone}")
        return 0
    except StoreError as exc:
        print(f"prevent-monitor db purge: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        print(_hint(exc), file=sys.stderr)
        return 1
    finally:
        engine.dispose()
