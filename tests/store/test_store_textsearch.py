"""Migration 0010, the text-search index (issue 17 item 6): it indexes the events already
stored, and its downgrade removes it; on PostgreSQL, a user who may not create pg_trgm is told
what to ask for."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL

from monitor.store import textsearch
from monitor.store.database import make_engine, make_sessionmaker
from monitor.store.migrate import alembic_config, current_revision, head_revision, upgrade
from monitor.store.queries import EventFilter, list_events


def _text_index_objects(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            found = conn.scalar(
                text("SELECT to_regclass(:name)::text"), {"name": textsearch.PG_INDEX}
            )
            return [found] if found else []
        names = "SELECT name FROM sqlite_master WHERE name LIKE 'events\\_text%' ESCAPE '\\'"
        return sorted(conn.scalars(text(names)))


def _search(engine: Engine, term: str) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return [e.event_id for e in list_events(session, EventFilter(text=term)).events]


def test_upgrade_indexes_what_is_stored_and_downgrade_removes_the_index(empty_url: str) -> None:
    assert upgrade(empty_url, "0009") == "0009"
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        for i, url in enumerate(["http://old.test/Straße", "http://old.test/100%_off"]):
            conn.execute(
                text(
                    "INSERT INTO events (event_id, source, kind, action, severity, reason, url,"
                    " first_seen, last_seen, repeat_count, fold_key, status) VALUES (:id,"
                    " 'gateway', 'url', 'block', 3, '', :url, :t, :t, 1, :id, 'new')"
                ),
                {"id": f"old{i}", "url": url, "t": "2025-01-01 00:00:00"},
            )
    upgrade(empty_url)
    assert _text_index_objects(engine)
    assert _search(engine, "STRAßE") == ["old0"]
    assert _search(engine, "0%_o") == ["old1"]
    assert _search(engine, "old.test") == ["old1", "old0"]

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    assert current_revision(engine) == "0009"
    assert _text_index_objects(engine) == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events")) == 2
    assert upgrade(empty_url) == head_revision()  # and up again
    assert _search(engine, "straße") == ["old0"]
    engine.dispose()


@pytest.mark.postgres
def test_without_the_right_to_create_pg_trgm_the_upgrade_says_what_to_run(
    pg_base_url: URL,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    database, role = f"prevent_monitor_no_trgm_{suffix}", f"prevent_monitor_no_trgm_{suffix}"
    admin = create_engine(pg_base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    owner = create_engine(pg_base_url.set(database=database), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:  # a schema of its own, but no CREATE on the database
        conn.exec_driver_sql(f'CREATE SCHEMA store AUTHORIZATION "{role}"')
    owner.dispose()
    url = pg_base_url.set(database=database, username=role, password=None)
    url = url.update_query_dict({"options": "-csearch_path=store"})
    try:
        with pytest.raises(RuntimeError) as raised:
            upgrade(url.render_as_string(hide_password=False))
        message = str(raised.value)
        assert "pg_trgm" in message and "permission denied" in message
        assert f"in database {database}: CREATE EXTENSION IF NOT EXISTS pg_trgm" in message
        assert "prevent-monitor db upgrade" in message
        engine = make_engine(url)
        assert current_revision(engine) is None  # the whole upgrade rolled back
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()
