"""Where the store lives and how to connect to it: the database URL and engine creation.

- `resolve_database_url(cli_value)`: --database-url, else $PREVENT_MONITOR_DATABASE_URL, else the
  embedded SQLite file `DEFAULT_DATABASE_PATH` (relative to the working directory).
- `make_engine(url, readonly=False)`: SQLite gets WAL, a busy timeout and foreign keys on every
  connection, and `BEGIN IMMEDIATE` transactions so a read-then-write never fails with
  "database is locked" half way (pass ``readonly=True`` for a console read engine, which uses
  deferred transactions). PostgreSQL goes through psycopg 3 (`postgresql+psycopg://`); a plain
  `postgresql://` URL is taken to mean that.
- `make_sessionmaker(engine)`: sessions that keep objects readable after commit.
- `config_url(raw, relative_to, password)`: a configured URL with its SQLite path made relative
  to the config file and the password filled in; `hide_password(url)` for messages.
- `StoreError`: what the database or its driver raises (SQLAlchemy's base error), for callers
  that report it without importing SQLAlchemy.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError as StoreError
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["StoreError"]  # with the functions below

ENV_DATABASE_URL = "PREVENT_MONITOR_DATABASE_URL"
DEFAULT_DATABASE_PATH = "var/prevent-monitor.sqlite"
DEFAULT_DATABASE_URL = f"sqlite:///{DEFAULT_DATABASE_PATH}"

SQLITE_BUSY_TIMEOUT_MS = 10_000
PG_CONNECT_TIMEOUT_S = 5


def resolve_database_url(cli_value: str | None = None) -> str:
    """The URL to use: the command line, then the environment, then the embedded default."""
    if cli_value:
        return cli_value
    return os.environ.get(ENV_DATABASE_URL) or DEFAULT_DATABASE_URL


def normalise_url(database_url: str | URL) -> URL:
    """Parse a URL, choosing psycopg 3 for PostgreSQL. Raises ValueError with what to do."""
    try:
        url = make_url(database_url)
    except Exception as exc:  # ArgumentError: not a URL at all
        raise ValueError(
            f"database URL {str(database_url)!r} is not a URL: use sqlite:///path/to/file.sqlite "
            "or postgresql+psycopg://user@host/dbname"
        ) from exc
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"database URL uses {url.get_backend_name()!r}: use sqlite or postgresql"
        )
    return url


def config_url(raw: str, relative_to: Callable[[str], Path], password: str | None) -> str:
    """A configured URL made usable: an SQLite path relative to the config file's folder
    (`relative_to`), and `password` (from the environment) unless the URL has one."""
    url = make_url(raw)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        url = url.set(database=str(relative_to(url.database)))
    if password and not url.password:
        url = url.set(password=password)
    return url.render_as_string(hide_password=False)


def hide_password(database_url: str) -> str:
    return make_url(database_url).render_as_string(hide_password=True)


def is_sqlite(database_url: str | URL) -> bool:
    return normalise_url(database_url).get_backend_name() == "sqlite"


def make_engine(database_url: str | URL, *, readonly: bool = False, **kwargs: Any) -> Engine:
    """An engine configured for the store (see the module docstring)."""
    url = normalise_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, readonly=readonly, **kwargs)
    connect_args = {"connect_timeout": PG_CONNECT_TIMEOUT_S, **kwargs.pop("connect_args", {})}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def _sqlite_engine(url: URL, *, readonly: bool, **kwargs: Any) -> Engine:
    if url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    begin = "BEGIN" if readonly else "BEGIN IMMEDIATE"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so that "begin" below decides it.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")  # durable across process crashes in WAL
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(begin)

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
