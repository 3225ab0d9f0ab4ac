"""The `prevent-monitor` command line: one entry point, a sub-command a concern (DESIGN.md #1).

Each module in `COMMANDS` exposes `register(subparsers)`, which adds its sub-command(s) and sets
`func(args) -> int` as the handler.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS = (
    "monitor.commands.check",
    "monitor.commands.lists",
    "monitor.commands.config",
    "monitor.commands.run",
    "monitor.commands.db",
    "monitor.commands.proxy",
    "monitor.commands.users",
    "monitor.commands.console",
    "monitor.commands.digest",
    "monitor.commands.watch",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prevent-monitor",
        description="Safeguarding filter for schools: gateway, brand-alert watcher and "
        "review console.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `check --stdin | head` closes the pipe early: that is not an error.
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
