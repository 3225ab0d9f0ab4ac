"""Opening the store a command works on: --database-url, else the one the daemon uses with the
same config (never a second one), and saying what to run when it is not ready."""

from __future__ import annotations

import argparse
import os
import sys

from monitor.commands.shared import read_config
from monitor.config import Config
from monitor.store.database import ENV_DATABASE_URL, normalise_url
from monitor.store.migrate import StoreNotReady, check_ready


def store_url(args: argparse.Namespace, command: str) -> str | None:
    """The URL of the existing, up-to-date store a command works on: --database-url, else the
    one the daemon uses with the same config. None, after saying why and what to run, when the
    store is not there or not at this version's schema: nothing is created."""
    config: Config | None = None
    if getattr(args, "database_url", None):
        url = str(args.database_url)
    else:
        config = read_config(args.config)
        if config is None:
            return None
        url = config.database_url()
    try:
        check_ready(url)
    except ValueError as exc:  # not a URL, or not sqlite/postgresql
        print(f"prevent-monitor {command}: {exc}", file=sys.stderr)
        return None
    except StoreNotReady as exc:
        print(f"prevent-monitor {command}: {exc} ({_where(url, config)}).", file=sys.stderr)
        print(f"  {_prepare_hint(args, config)}", file=sys.stderr)
        return None
    return url


def _where(url: str, config: Config | None) -> str:
    shown = normalise_url(url).render_as_string(hide_password=True)
    if config is None:
        return f"--database-url {shown}"
    if os.environ.get(ENV_DATABASE_URL):
        return f"${ENV_DATABASE_URL} {shown}"
    return f"{shown}, the store of {config.source}"


def _prepare_hint(args: argparse.Namespace, config: Config | None) -> str:
    if config is None:
        return f"Prepare it with: prevent-monitor db upgrade --database-url {args.database_url}"
    return (
        f"Start the daemon once (prevent-monitor run --config {config.source}), or prepare the "
        f"store with: prevent-monitor db upgrade --config {config.source}"
    )
