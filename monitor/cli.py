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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line; with `command`, only that command's module is loaded. Each command is
    named after its module, and each module loads what it runs: the Squid helper
    (`check --stdin`, started by Squid in several copies, and again on each reconfigure) needs
    the filters, not the console's web application or the store's migrations."""
    parser = argparse.ArgumentParser(
        prog="prevent-monitor",
        description="Safeguarding filter for schools: gateway, brand-alert watcher and "
        "review console.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS if command is None else (_module_of(command),):
        importlib.import_module(name).register(sub)
    return parser


def _module_of(command: str) -> str:
    return f"monitor.commands.{command}"


def _named_command(argv: Sequence[str]) -> str | None:
    """The command `argv` names first, if it is one of ours (help, a typo or an option first:
    None, so the parser knows every command to list or suggest)."""
    first = argv[0] if argv else ""
    return first if _module_of(first) in COMMANDS else None


def main(argv: Sequence[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(_named_command(arguments)).parse_args(arguments)
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
