"""Schema migrations, run from code: `upgrade(database_url)` brings a store to the newest schema.

The Alembic scripts live in this package (`monitor/store/migrations/`) so they ship in the wheel;
no alembic.ini is needed. The daemon calls `upgrade()` on start for the embedded SQLite store and
`prevent-monitor db upgrade` does it for a trust's PostgreSQL server.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from monitor.store.database import make_engine

SCRIPT_LOCATION = "monitor.store:migrations"


def alembic_config(database_url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    if database_url:
        # Alembic's Config interpolates %; a URL with an escaped password must survive that.
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade_engine(
    engine: Engine, revision: str = "head", *, default_school: str | None = None
) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        # The school that rows stored before schools existed go to (migration 0011).
        config.attributes["default_school"] = default_school
        command.upgrade(config, revision)


def upgrade(
    database_url: str, revision: str = "head", *, default_school: str | None = None
) -> str | None:
    """Upgrade the store at `database_url` (creating an SQLite file if needed); return the
    revision it is at afterwards. Rows from before schools existed go to `default_school`
    (the configuration's `school_id`)."""
    engine = make_engine(database_url)
    try:
        upgrade_engine(engine, revision, default_school=default_school)
        return current_revision(engine)
    finally:
        engine.dispose()


class StoreNotReady(Exception):
    """The store a command was pointed at does not exist, or is not at this version's schema."""


class StoreMissing(StoreNotReady):
    """The embedded SQLite file is not there yet (`run` creates it on first start)."""


def check_ready(database_url: str) -> None:
    """Raise StoreNotReady unless the store exists and is at the newest schema. Never creates
    anything: an SQLite file that is not there stays not there (commands other than `run` and
    `db upgrade` must not leave a second, empty store behind)."""
    from monitor.store.database import is_sqlite, normalise_url

    url = normalise_url(database_url)
    embedded = is_sqlite(url) and url.database and url.database != ":memory:"
    if embedded and not Path(str(url.database)).is_file():
        raise StoreMissing(f"there is no store at {url.database}")
    engine = make_engine(url)
    try:
        current = current_revision(engine)
    except Exception as exc:  # unreachable server, refused login, not a database file
        raise StoreNotReady(f"cannot open the store: {exc.__class__.__name__}: {exc}") from None
    finally:
        engine.dispose()
    if current != head_revision():
        raise StoreNotReady(
            f"the store is at schema {current or '(empty)'}, this version needs {head_revision()}"
        )
