"""What the sub-commands share: finding and reading the config file, and the `--config` /
`--policy` options. Opening the store the config names is `monitor.commands.storeurl`: the Squid
helper reads the config too, and must not load SQLAlchemy and Alembic to do so."""

from __future__ import annotations

import argparse
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
