"""`prevent-monitor config show | check`: the effective configuration with every default and its
help, or a check that the configuration, its policy and its store are usable."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

import yaml

from filters.policy import Policy
from monitor.commands.shared import add_config_option, read_config
from monitor.config import Config, load_config, ports, secret_env_name, setting_fields
from monitor.store.migrate import StoreMissing, StoreNotReady, check_ready


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("config", help="show or check the configuration")
    config_sub = parser.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser(
        "show", help="print the effective configuration with defaults and help text"
    )
    add_config_option(show)
    show.add_argument(
        "--defaults", action="store_true",
        help="print every setting's default, with no configuration file (a starting point)",
    )
    show.set_defaults(func=show_config)
    check = config_sub.add_parser(
        "check",
        help="check the configuration, its policy and its store; exit 0 when all are usable",
        description="Check the configuration file (every key, type and port), the policy it "
        "names (every list, with file:line) and that its store is reachable and at this "
        "version's schema. Nothing is created or changed.",
    )
    add_config_option(check)
    check.set_defaults(func=check_config)


def show_config(args: argparse.Namespace) -> int:
    config = load_config(None) if args.defaults else read_config(args.config)
    if config is None:
        return 2
    sys.stdout.write(describe(config))
    return 0


def check_config(args: argparse.Namespace) -> int:
    config = read_config(args.config)
    if config is None:
        return 2
    failed = False
    print(f"configuration {config.source}: valid")
    problems = Policy.validate(config.policy_path())
    if problems:
        failed = True
        print(f"policy {config.policy_path()}: {len(problems)} problem(s)")
        for problem in problems[:50]:
            print(f"  {problem}")
    else:
        print(f"policy {config.policy_path()}: valid")
    try:
        check_ready(config.database_url())
        print("store: reachable, schema up to date")
    except StoreMissing as exc:
        # A fresh machine has no store yet: `run` creates the embedded one on first start.
        print(f"store: {exc} yet; `prevent-monitor run` creates it on first start")
    except (StoreNotReady, ValueError) as exc:
        failed = True
        print(f"store: {exc}; run `prevent-monitor db upgrade --config {config.source}`")
    print("ports: " + ", ".join(f"{key} {port}" for key, port in ports(config).items()))
    return 1 if failed else 0


def describe(config: Config) -> str:
    """`config show`: the effective configuration as commented YAML, secrets hidden."""
    lines = [f"# effective configuration (from {config.source})"]
    _describe(config, 0, lines, "")
    lines.append("")
    lines.append("# Ports in use (gateway process N adds N to the gateway's two):")
    lines += [f"#   {key}: {port}" for key, port in ports(config).items()]
    return "\n".join(lines) + "\n"


def _describe(obj: Any, depth: int, lines: list[str], prefix: str) -> None:
    indent = "  " * depth
    for f in setting_fields(type(obj)):
        value = getattr(obj, f.name)
        help_text = f.metadata.get("help", "")
        if dataclasses.is_dataclass(value):
            lines.append(f"{indent}# {help_text}")
            lines.append(f"{indent}{f.name}:")
            _describe(value, depth + 1, lines, f"{prefix}{f.name}.")
            continue
        if f.metadata.get("secret"):
            env = secret_env_name(prefix, f.name)
            state = "set" if value else "not set"
            lines.append(f"{indent}# {help_text} From {env} or {env}_FILE ({state}).")
            continue
        if help_text:
            lines.append(f"{indent}# {help_text}")
        dumped = yaml.safe_dump({f.name: value}, default_flow_style=True, width=1000).strip()
        lines.append(f"{indent}{dumped.removeprefix('{').removesuffix('}')}")
