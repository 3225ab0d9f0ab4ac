"""`prevent-monitor proxy`: run one gateway process (mitmproxy with the gateway addon)."""

from __future__ import annotations

import argparse
import os
import sys

from monitor.commands.shared import add_config_option, read_config
from monitor.config import MAX_GATEWAY_INSTANCES, port_clashes


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "proxy",
        help="run the filtering proxy (mitmproxy with the gateway addon)",
        description="Run one gateway process from the configuration file. Several processes "
        "(--instance 0, 1, ...) share the load on a multi-core gateway.",
    )
    add_config_option(parser)
    parser.add_argument(
        "--instance",
        type=int,
        default=int(os.environ.get("PREVENT_MONITOR_GATEWAY_INSTANCE", "0") or 0),
        help="process number N: listens on gateway.listen_port + N (default 0)",
    )
    parser.add_argument("--policy", metavar="FILE", help="override policy.file")
    parser.add_argument("--port", type=int, help="override gateway.listen_port")
    parser.add_argument(
        "--set",
        dest="setoptions",
        metavar="NAME=VALUE",
        action="append",
        default=[],
        help="set a mitmproxy or gateway option, as mitmdump --set does (repeatable)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = read_config(args.config, part="gateway")
    if config is None:
        return 2
    if not 0 <= args.instance < MAX_GATEWAY_INSTANCES:
        print(
            f"prevent-monitor proxy: --instance {args.instance}: use 0 to "
            f"{MAX_GATEWAY_INSTANCES - 1}",
            file=sys.stderr,
        )
        return 2
    clashes = port_clashes(config, args.instance)
    if clashes:
        print(f"prevent-monitor proxy: in {config.source}:", file=sys.stderr)
        for problem in clashes:
            print(f"  {problem}", file=sys.stderr)
        return 2
    from monitor.gateway.proxy import proxy_options, run_proxy

    options = proxy_options(config, instance=args.instance)
    if args.policy:
        options["gateway_policy"] = args.policy
    if args.port is not None:
        options["listen_port"] = args.port + args.instance
    for item in args.setoptions:
        name, sep, value = item.partition("=")
        if not sep:
            print(f"prevent-monitor proxy: --set {item!r}: expected NAME=VALUE", file=sys.stderr)
            return 2
        options[name.strip()] = _value(value)
    port = config.metrics.gateway_port
    metrics_at = (config.metrics.host, port + args.instance) if port else None
    return run_proxy(options, metrics_at=metrics_at)


def _value(text: str) -> object:
    """--set values as mitmdump reads them: true/false, whole numbers, else text."""
    if text in ("true", "false"):
        return text == "true"
    if text.lstrip("-").isdigit():
        return int(text)
    return text
