"""What the sub-commands share: finding and reading the config file, the `--config` / `--policy`
options, and opening the store the config names (never a second one)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from monitor.config import (
    ENV_CONFIG,
    Config,
    ConfigError,
    find_config,
    load_config,
    read_config_file,
)
from monitor.logs import setup_logging
from monitor.store.database import ENV_DATABASE_URL, normalise_url
from monitor.store.migrate import StoreNotReady, check_ready


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    add_config_option(parser)
    parser.add_argument(
        "--policy", metavar="FILE", help="the policy file (overrides the config's policy.file)"
    )


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the configuration file (default: ${ENV_CONFIG}, else "
        "/etc/prevent-monitor/prevent-monitor.yaml)",
    )


def read_config(
    path: str | None, *, part: str | None = None, optional: bool = False
) -> Config | None:
    """The configuration (--config, else $PREVENT_MONITOR_CONFIG, else the default path), or None
    after printing why it is missing or invalid (the caller exits 2). A long-running `part`
    (gateway, watcher, console, daemon) also gets its logging set up. `optional`: when no file
    is named or found, the defaults (for a command told its store by --database-url)."""
    try:
        if optional and find_config_or_none(path) is None:
            return load_config(None)
        config = read_config_file(path)
    except ConfigError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return None
    if part is not None:
        setup_logging(config.logging.level, as_json=config.logging.json, part=part)
    return config


def find_config_or_none(path: str | None) -> Path | None:
    try:
        return find_config(path)
    except ConfigError:
        return None


def policy_path(args: argparse.Namespace) -> Path | None:
    """The policy file the options name; None (after printing why) if the config is invalid."""
    if args.policy:
        return Path(args.policy)
    config = read_config(args.config)
    return config.policy_path() if config is not None else None


def store_url(args: argparse.Namespace, command: str) -> str | None:
    """The URL of the existing, up-to-date store a command works on: --database-url, else the
    one the daemon uses with the same config. None, after saying why and what to run, when the
    store is not there or not at this version's schema: nothing is created."""
    config: Config | None = None
    if getattr(args, "database_url", None):
        url = str(args.database_url)
    else:
        config = read_config(args.config)
        if config is None:
            return None
        url = config.database_url()
    try:
        check_ready(url)
    except ValueError as exc:  # not a URL, or not sqlite/postgresql
        print(f"prevent-monitor {command}: {exc}", file=sys.stderr)
        return None
    except StoreNotReady as exc:
        print(f"prevent-monitor {command}: {exc} ({_where(url, config)}).", file=sys.stderr)
        print(f"  {_prepare_hint(args, config)}", file=sys.stderr)
        return None
    return url


def _where(url: str, config: Config | None) -> str:
    shown = normalise_url(url).render_as_string(hide_password=True)
    if config is None:
        return f"--database-url {shown}"
    if os.environ.get(ENV_DATABASE_URL):
        return f"${ENV_DATABASE_URL} {shown}"
    return f"{shown}, the store of {config.source}"


def _prepare_hint(args: argparse.Namespace, config: Config | None) -> str:
    if config is None:
        return f"Prepare it with: prevent-monitor db upgrade --database-url {args.database_url}"
    return (
        f"Start the daemon once (prevent-monitor run --config {config.source}), or prepare the "
        f"store with: prevent-monitor db upgrade --config {config.source}"
    )
