"""What `prevent-monitor run` does before anything starts, so a fresh machine just works.

1. The data folder (owner-only: it holds the CA key and the session key).
2. The policy must validate: a bad list stops start-up with its file:line.
3. The store: an embedded SQLite file is created and migrated by itself; a PostgreSQL store must
   already be at the current schema (a trust's DBA runs `prevent-monitor db upgrade`).
4. mitmproxy's CA is generated if there is none, and its certificate's path printed for roll-out.
5. The first console administrator is created, and its one-time password printed once.
"""

from __future__ import annotations

import os
from pathlib import Path

from filters.policy import Policy
from monitor.config import Config


class FirstRunError(Exception):
    """Start-up cannot go on; the message says why and what to do."""


def prepare(config: Config) -> list[str]:
    """Make the machine ready; returns the lines to print for the person starting it."""
    lines: list[str] = []
    data = config.data_path()
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    _check_policy(config)
    lines += prepare_store(config)
    lines += _prepare_ca(config)
    lines += first_admin(config)
    return lines


def _check_policy(config: Config) -> None:
    problems = Policy.validate(config.policy_path())
    if problems:
        shown = "\n".join(f"  {p}" for p in problems[:20])
        raise FirstRunError(
            f"the policy {config.policy_path()} has {len(problems)} problem(s):\n{shown}\n"
            "Fix them (prevent-monitor lists validate shows them all) and start again."
        )


def prepare_store(config: Config) -> list[str]:
    from monitor.store.database import is_sqlite
    from monitor.store.migrate import StoreNotReady, check_ready, head_revision

    url = config.database_url()
    if is_sqlite(url):
        revision = prepare_embedded_store(url, config.school_id)
        return [f"events store: {_display(url)} (schema {revision})"]
    try:
        check_ready(url)
    except StoreNotReady as exc:
        raise FirstRunError(f"{exc}: run `prevent-monitor db upgrade` first") from None
    return [f"events store: {_display(url)} (schema {head_revision()})"]


def prepare_embedded_store(url: str, school_id: str | None = None) -> str | None:
    """Create and migrate an embedded SQLite store (a server's is left to `db upgrade`);
    the schema revision it is now at, or None for a server."""
    from monitor.store.database import is_sqlite
    from monitor.store.migrate import upgrade

    if not is_sqlite(url):
        return None
    Path(url.split("///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
    return upgrade(url, default_school=school_id)


def _display(url: str) -> str:
    from monitor.store.database import hide_password

    return hide_password(url)


def ca_folder(config: Config) -> Path:
    gateway = getattr(config, "gateway", None)
    confdir = getattr(gateway, "confdir", "") if gateway is not None else ""
    return config.path(confdir) if confdir else config.data_path("mitmproxy")


def _prepare_ca(config: Config) -> list[str]:
    from mitmproxy.certs import CertStore

    folder = ca_folder(config)
    existed = (folder / "mitmproxy-ca.pem").exists()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    CertStore.from_store(folder, "mitmproxy", 2048)
    cert = folder / "mitmproxy-ca-cert.cer"
    verb = "uses" if existed else "generated"
    return [
        f"gateway CA: {verb} {folder / 'mitmproxy-ca.pem'} (private: keep it on the gateway)",
        f"  install this certificate on school devices: {cert} "
        f"(PEM: {folder / 'mitmproxy-ca-cert.pem'}); see deploy/README.md",
    ]


def first_admin(config: Config) -> list[str]:
    from monitor.store.accounts import FIRST_ADMIN, ensure_first_admin
    from monitor.store.database import make_engine, make_sessionmaker

    engine = make_engine(config.database_url())
    try:
        with make_sessionmaker(engine)() as session:
            password = ensure_first_admin(session)
            session.commit()
    finally:
        engine.dispose()
    if password is None:
        return []
    host = config.console.listen_host
    return [
        f"console: first administrator created: user {FIRST_ADMIN!r}, one-time password {password}",
        f"  sign in at http://{host}:{config.console.port}/ and change it; it is not shown again",
    ]
