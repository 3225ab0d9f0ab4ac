"""Schema migrations, run from code: `upgrade(database_url)` brings a store to the newest schema.

The Alembic scripts live in this package (`monitor/store/migrations/`) so they ship in the wheel;
no alembic.ini is needed. The daemon calls `upgrade()` on start for the embedded SQLite store and
`prevent-monitor db upgrade` does it for a trust's PostgreSQL server.
"""

from __future__ import annotations

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


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def upgrade(database_url: str, revision: str = "head") -> str | None:
    """Upgrade the store at `database_url` (creating an SQLite file if needed); return the
    revision it is at afterwards."""
    engine = make_engine(database_url)
    try:
        upgrade_engine(engine, revision)
        return current_revision(engine)
    finally:
        engine.dispose()
