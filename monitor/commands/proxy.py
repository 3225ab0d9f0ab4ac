"""`prevent-monitor proxy`: run one gateway process (mitmproxy with the gateway addon).

`proxy_options()` turns the configuration file into mitmproxy options: the gateway's own
`gateway_*` options (declared once, in `monitor.gateway.options.OPTIONS`, each with the key it
is read from) and mitmproxy's (mode, listen address, confdir, proxyauth). An embedded SQLite
store is brought to the current schema first, as `prevent-monitor run` does; the gateway itself
never migrates.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import urlsplit

from monitor.commands.shared import add_config_option, read_config
from monitor.config import MAX_GATEWAY_INSTANCES, Config, port_clashes
from monitor.firstrun import prepare_embedded_store
from monitor.gateway.options import OPTIONS

DEFAULT_SCHOOL = "Our School"


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
    from monitor.gateway.proxy import run_proxy

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
    database = str(options["gateway_database"])
    if database:
        prepare_embedded_store(database, config.school_id)
    port = config.metrics.gateway_port
    metrics_at = (config.metrics.host, port + args.instance) if port else None
    return run_proxy(options, metrics_at=metrics_at)


def proxy_options(config: Config, *, instance: int = 0) -> dict[str, Any]:
    """mitmproxy options for gateway process `instance` (listening on listen_port + instance)."""
    gateway = config.gateway
    options: dict[str, Any] = {
        name: setting_value(config, option.config_key) for name, option in OPTIONS.items()
    }
    # Where the file's values mean more than themselves: paths relative to the file, defaults
    # taken from other sections, one status file per process.
    options.update(
        gateway_policy=str(config.policy_path()),
        gateway_database=config.database_url(),
        gateway_spool_dir=str(config.path(config.database.spool_dir)),
        gateway_school="" if config.school == DEFAULT_SCHOOL else config.school,
        gateway_schools=sorted(config.schools().ids),
        gateway_review_url=gateway.review_url or f"{config.console_url()}/request-review",
        gateway_own_hosts=[*gateway.own_hosts, *_console_hosts(config)],
        gateway_device_map=str(config.path(gateway.device_map)) if gateway.device_map else "",
        gateway_reload_interval=max(0, round(config.policy.reload_interval)),
        gateway_status_file=str(status_file_of(config, instance)),
    )
    confdir = config.path(gateway.confdir) if gateway.confdir else config.data_path("mitmproxy")
    options.update(
        mode=[gateway.mode],
        listen_host=gateway.listen_host,
        listen_port=gateway.listen_port + instance,
        confdir=str(confdir),
        connection_strategy="lazy",
    )
    if gateway.ldap:
        options["proxyauth"] = gateway.ldap
    elif gateway.htpasswd:
        options["proxyauth"] = "@" + str(config.path(gateway.htpasswd))
    if not gateway.intercept_tls:
        options["ignore_hosts"] = [".*"]  # decided by CONNECT host and SNI only
    options.update(gateway.mitmproxy)
    return options


def setting_value(config: Config, key: str) -> Any:
    """The value of a setting by its key path (`gateway.page_limit`); lists are copied."""
    value: Any = config
    for part in key.split("."):
        value = getattr(value, part)
    if isinstance(value, dict):  # a mapping by id (trust.schools): its ids
        return sorted(value)
    return list(value) if isinstance(value, list) else value


def status_file_of(config: Config, instance: int = 0) -> Any:
    """Where gateway process `instance` writes its status file (the console reads it too)."""
    status_file = config.gateway.status_file or config.console.gateway_status_file
    status = config.path(status_file) if status_file else config.data_path("gateway-status.json")
    if instance:
        status = status.with_name(f"{status.stem}-{instance}{status.suffix}")
    return status


def _console_hosts(config: Config) -> list[str]:
    """The console's public host, never filtered even when review_url points elsewhere."""
    host = urlsplit(config.console.public_url).hostname if config.console.public_url else None
    return [host] if host else []


def _value(text: str) -> object:
    """--set values as mitmdump reads them: true/false, whole numbers, else text."""
    if text in ("true", "false"):
        return text == "true"
    if text.lstrip("-").isdigit():
        return int(text)
    return text
