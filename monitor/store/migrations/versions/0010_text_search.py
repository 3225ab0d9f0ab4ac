"""Indexes for the console's free-text search over events (`monitor.store.textsearch`).

- SQLite: `events_text`, an FTS5 table with the trigram tokenizer over the seven searched
  columns of `events`, kept in step by three triggers on `events` (insert, delete, and an
  update of a searched column). It holds only the index: no copy of the text (external
  content) and, per trigram, only which rows hold it (`detail=none`, about a fifth of the size
  with positions). Rows already stored are indexed by FTS5's `rebuild`.
- PostgreSQL: `ix_events_text_trgm`, one GIN index with pg_trgm's `gin_trgm_ops` on the same
  columns; PostgreSQL keeps it in step and uses it for ILIKE. Those columns get finer planner
  statistics (`PG_STATISTICS`), and the table is analysed. The extension is created if it is
  missing, in the `public` schema when there is one (so dropping a store's own schema never
  takes it away from another); that needs a superuser, or on PostgreSQL 13 and later the right
  to create in the database (pg_trgm is a trusted extension).

Downgrade drops the table, triggers and index and puts the statistics targets back; it leaves
the pg_trgm extension, which other schemas of the database may use (`DROP EXTENSION pg_trgm;`
removes it when nothing does).

A later migration that makes SQLite copy `events` (a batch operation that recreates the table)
drops these triggers with the old table: it must create them again (`SQLITE_TRIGGERS`).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

COLUMNS = ("url", "host", "search_terms", "rule", "category", "reason", "user_name")
NAMES = ", ".join(COLUMNS)
NEW = ", ".join(f"new.{c}" for c in COLUMNS)
OLD = ", ".join(f"old.{c}" for c in COLUMNS)
DELETE_OLD = (
    f"INSERT INTO events_text (events_text, rowid, {NAMES}) VALUES ('delete', old.pk, {OLD});"
)
INSERT_NEW = f"INSERT INTO events_text (rowid, {NAMES}) VALUES (new.pk, {NEW});"

SQLITE_TABLE = (
    f"CREATE VIRTUAL TABLE events_text USING fts5({NAMES}, content='events',"
    " content_rowid='pk', tokenize='trigram', detail=none, columnsize=0)"
)
SQLITE_TRIGGERS = [
    f"CREATE TRIGGER events_text_insert AFTER INSERT ON events BEGIN {INSERT_NEW} END",
    f"CREATE TRIGGER events_text_delete AFTER DELETE ON events BEGIN {DELETE_OLD} END",
    f"CREATE TRIGGER events_text_update AFTER UPDATE OF pk, {NAMES} ON events"
    f" BEGIN {DELETE_OLD} {INSERT_NEW} END",
]

# PostgreSQL's planner chooses between the index and walking the page's sort order from its
# estimate of how many events hold the term. With the default 100 most common values and
# histogram bounds per column that estimate swings between runs of ANALYZE for terms held by
# 0.1-1 % of events (a host, a rule): 1,000 makes every host and rule a counted value and the
# URL histogram ten times finer, at the price of ANALYZE reading 300,000 sample rows.
PG_STATISTICS = 1000

NO_EXTENSION = (
    "migration 0010 needs PostgreSQL's pg_trgm extension (the console's text search index), "
    "and this database user may not create it ({error}). Ask the database's administrator to "
    "run, in database {database}: CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public; "
    "(a superuser, or on PostgreSQL 13+ a user with CREATE on the database). Then run "
    "'prevent-monitor db upgrade' again."
)


def _statistics(target: int) -> None:
    for name in COLUMNS:
        op.execute(f"ALTER TABLE events ALTER COLUMN {name} SET STATISTICS {target}")


def _sqlite_available() -> None:
    try:
        op.execute("CREATE VIRTUAL TABLE temp.events_text_probe USING fts5(x, tokenize='trigram')")
    except Exception as exc:
        raise RuntimeError(
            "migration 0010 needs SQLite 3.34 or newer with FTS5 (the trigram tokenizer) for "
            f"the console's text search; this Python's SQLite cannot ({exc}). Use a Python "
            "built with a newer SQLite."
        ) from exc
    op.execute("DROP TABLE temp.events_text_probe")


def _pg_trgm_schema() -> str:
    """The schema pg_trgm lives in, creating the extension if it is missing."""
    bind = op.get_bind()
    find = text(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
    )
    schema = bind.scalar(find)
    if schema:
        return str(schema)
    public = bind.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = 'public'"))
    try:
        with bind.begin_nested():
            bind.exec_driver_sql(
                "CREATE EXTENSION IF NOT EXISTS pg_trgm" + (" SCHEMA public" if public else "")
            )
    except Exception as exc:
        database = bind.scalar(text("SELECT current_database()"))
        error = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise RuntimeError(NO_EXTENSION.format(error=error, database=database)) from exc
    return str(bind.scalar(find))


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        schema = _pg_trgm_schema().replace('"', '""')
        ops = ", ".join(f'{c} "{schema}".gin_trgm_ops' for c in COLUMNS)
        op.execute(f"CREATE INDEX ix_events_text_trgm ON events USING gin ({ops})")
        _statistics(PG_STATISTICS)
        op.execute("ANALYZE events")
        return
    _sqlite_available()
    op.execute(SQLITE_TABLE)
    for statement in SQLITE_TRIGGERS:
        op.execute(statement)
    op.execute("INSERT INTO events_text (events_text) VALUES ('rebuild')")  # rows already there


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_events_text_trgm")
        _statistics(-1)  # the server's default_statistics_target again
        return
    for name in ("events_text_update", "events_text_delete", "events_text_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS events_text")
