"""The `--config` / `--policy` options shared by the commands that load the policy."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitor.config import ConfigError, load_config


def add_policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="the daemon's configuration file")
    parser.add_argument(
        "--policy", metavar="FILE", help="the policy file (overrides the config's policy.file)"
    )


def policy_path(args: argparse.Namespace) -> Path | None:
    """The policy file the options name; None (after printing why) if the config is invalid."""
    if args.policy:
        return Path(args.policy)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return None
    return config.path(config.policy.file)
