"""`prevent-monitor run`: prepare a fresh machine, then supervise gateway, watcher and console."""

from __future__ import annotations

import argparse
import asyncio
import sys

from monitor.commands.shared import add_config_option, read_config


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run",
        help="run the whole daemon: gateway proxy, watcher, console and digest schedule",
        description="Run the whole daemon from one config file. On first start it creates the "
        "embedded SQLite store, mitmproxy's CA and the first console administrator.",
    )
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config, part="daemon")
    if config is None:
        return 2
    from monitor.daemon import Supervisor, parts_for
    from monitor.firstrun import FirstRunError, prepare

    try:
        for line in prepare(config):
            print(line, flush=True)
    except FirstRunError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(Supervisor(config, parts_for(config, args.config)).run())
