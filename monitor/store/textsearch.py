"""The console's free-text search over events, served from each engine's own index.

The index objects (migration 0010): on SQLite `events_text`, an FTS5 trigram table kept in
step by triggers on `events`; on PostgreSQL `ix_events_text_trgm`, a pg_trgm GIN index.

`outside_the_models(name, type_, parents)` tells Alembic's comparison (and autogenerate) to
leave these index objects alone: the models do not describe them, migration 0010 does.
"""

from __future__ import annotations

from typing import Any

FTS_TABLE = "events_text"
PG_INDEX = "ix_events_text_trgm"


def outside_the_models(name: str | None, type_: str, parents: Any) -> bool:
    """False for the text-search objects of migration 0010 (Alembic's `include_name`)."""
    if type_ == "table" and name is not None:
        return not (name == FTS_TABLE or name.startswith(FTS_TABLE + "_"))
    return not (type_ == "index" and name == PG_INDEX)
