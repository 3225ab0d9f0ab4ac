"""Alembic environment for the store: run programmatically by `monitor.store.migrate`.

The caller passes an open connection in ``config.attributes["connection"]``; the `alembic`
command line (for developers writing a migration) may set ``sqlalchemy.url`` instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from monitor.store.database import make_engine
from monitor.store.models import Base
from monitor.store.textsearch import outside_the_models

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
        include_name=outside_the_models,  # migration 0010's text-search index objects
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


run_migrations_online()
