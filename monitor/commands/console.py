"""`prevent-monitor console --config FILE`: serve the review console on its own.

The daemon (`prevent-monitor run`) starts this as one of its parts. An embedded SQLite store is
upgraded first; the first administrator is created (and its password printed once) if there is
no account yet.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import signal
import sys
from typing import Any

from monitor.commands.proxy import status_file_of
from monitor.commands.shared import add_config_option, read_config
from monitor.config import Config
from monitor.console.settings import ConsoleSettings


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("console", help="serve the review console on its own")
    add_config_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config, part="console")
    if config is None:
        return 2
    from monitor.firstrun import FirstRunError, first_admin, prepare_store

    try:
        for line in prepare_store(config) + first_admin(config):
            print(line, flush=True)
    except FirstRunError as exc:
        print(f"prevent-monitor: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(config))


async def _serve(config: Config) -> int:
    from monitor.console.app import start_console

    settings = console_settings(config)
    runner = await start_console(
        settings,
        config.database_url(),
        config.policy_path(),
        config.path(config.data_dir),
        config.schools(),
    )
    print(f"console: listening on http://{settings.listen_host}:{settings.port}/", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await runner.cleanup()
    return 0


def console_settings(config: Config) -> ConsoleSettings:
    """The console's settings, reading the gateway's status file where the gateway writes it:
    `gateway.status_file`, else `console.gateway_status_file`, relative to the config file."""
    return dataclasses.replace(config.console, gateway_status_file=str(status_file_of(config)))
