"""What the sub-commands share: reading the config file, and the `--config` / `--policy` options."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.config import Config, ConfigError, load_config
from monitor.logs import setup_logging


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="the daemon's configuration file")
    parser.add_argument(
        "--policy", metavar="FILE", help="the policy file (overrides the config's policy.file)"
    )


def read_config(path: str | None, *, part: str | None = None) -> Config | None:
    """The configuration, or None after printing why it is invalid (the caller exits 2). A
    long-running `part` (gateway, watcher, console, daemon) also gets its logging set up."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return None
    if part is not None:
        setup_logging(config.logging.level, as_json=config.logging.json, part=part)
    return config


def policy_path(args: argparse.Namespace) -> Path | None:
    """The policy file the options name; None (after printing why) if the config is invalid."""
    if args.policy:
        return Path(args.policy)
    config = read_config(args.config)
    return config.policy_path() if config is not None else None
