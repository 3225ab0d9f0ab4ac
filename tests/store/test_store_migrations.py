"""Migrations: an empty database and one at the previous revision reach head, and the models
match what the migrations build (a model change without a migration fails here)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from monitor.store.database import make_engine
from monitor.store.migrate import current_revision, head_revision, upgrade
from monitor.store.models import Base
from monitor.store.textsearch import outside_the_models


def test_empty_database_upgrades_to_head_and_matches_the_models(empty_url: str) -> None:
    head = head_revision()
    assert int(head) >= 2
    assert upgrade(empty_url) == head
    engine = make_engine(empty_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": outside_the_models})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []
    assert upgrade(empty_url) == head  # a second run is a no-op


def test_database_at_previous_revision_upgrades_with_its_data(empty_url: str) -> None:
    assert upgrade(empty_url, "0001") == "0001"
    engine = make_engine(empty_url)
    when = "2025-01-01 00:00:00"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO events (event_id, source, kind, action, severity, reason, first_seen,"
                " last_seen, repeat_count, fold_key, status) VALUES ('e1', 'gateway', 'url',"
                " 'block', 3, '', :t, :t, 1, 'k', 'new')"
            ),
            {"t": when},
        )
        conn.execute(
            text(
                "INSERT INTO audit_trail (at, actor, action, event_id)"
                " VALUES (:t, 'dsl', 'note', 'e1')"
            ),
            {"t": when},
        )
    assert upgrade(empty_url) == head_revision()
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events")) == 1
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_trail SET actor = 'someone else'"))
    engine.dispose()
