"""`prevent-monitor config show`: the effective configuration with every default and its help."""

from __future__ import annotations

import argparse
import sys

from monitor.commands.shared import read_config
from monitor.config import describe


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="show or check the configuration")
    config_sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser(
        "show", help="print the effective configuration with defaults and help text"
    )
    show.add_argument("--config", metavar="FILE", help="the configuration file")
    show.set_defaults(func=show_config)


def show_config(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    if config is None:
        return 2
    sys.stdout.write(describe(config))
    return 0
