"""Schools: every event, mention, unblock request, context-log row, instant alert and digest
carries the school it belongs to, and every console account has its schools (issue #16).

- `school` (NOT NULL) on events, brand_mentions, unblock_requests, context_log,
  safeguarding_alerts and digests_sent. Existing rows go to the configured default school: the
  caller passes it as `config.attributes["default_school"]` (`monitor.store.migrate.upgrade`),
  else `school`. The column keeps that value as its server default.
- `audit_trail.school` (nullable): the audit trail is append-only (its triggers refuse UPDATE),
  so old entries keep NULL and are found through their event.
- `console_users.schools`: existing accounts see every school (`*`), as they did before.
- The context log folds per school; alerts are looked up by school and identity; a school's
  first page of events is served by ix_events_school_last_seen. Digest period keys gain the
  school (`school:daily:2025-03-04`), so each school gets its own digest per period.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

TABLES = (
    "events", "brand_mentions", "unblock_requests", "context_log", "safeguarding_alerts",
    "digests_sent",
)  # fmt: skip


# (table, old unique columns, new unique columns): each school folds and dedupes on its own.
UNIQUE_UP = [
    ("context_log", ["identity", "minute", "host", "action"],
     ["school", "identity", "minute", "host", "action"]),
    ("brand_mentions", ["mention_key"], ["school", "mention_key"]),
    ("brand_sightings", ["feed_key", "entry_key"], ["feed_key", "entry_key", "mention_id"]),
]  # fmt: skip


def _unique_constraints(changes: list[tuple[str, list[str], list[str]]]) -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite rebuilds a table to change a constraint; the audit trail's triggers name these
        # tables, and the modern ALTER TABLE RENAME refuses while they do (they still hold).
        op.execute("PRAGMA legacy_alter_table = ON")
    for table, old, new in changes:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_{'_'.join(old)}", type_="unique")
            batch.create_unique_constraint(f"uq_{table}_{'_'.join(new)}", new)
    if sqlite:
        op.execute("PRAGMA legacy_alter_table = OFF")


def _default_school() -> str:
    value = context.config.attributes.get("default_school") or "school"
    return str(value)


def upgrade() -> None:
    school = _default_school()
    for table in TABLES:
        op.add_column(
            table,
            sa.Column("school", sa.String(length=32), nullable=False, server_default=school),
        )
    op.add_column("audit_trail", sa.Column("school", sa.String(length=32), nullable=True))
    op.add_column(
        "console_users",
        sa.Column("schools", sa.String(length=1024), nullable=False, server_default=""),
    )
    op.execute("UPDATE console_users SET schools = '*'")
    op.execute(
        "UPDATE digests_sent SET period_key = school || ':' || period_key "
        "WHERE period_key IS NOT NULL"
    )
    op.create_index(
        op.f("ix_events_school_last_seen"), "events", ["school", "last_seen", "pk"], unique=False
    )
    op.drop_index("ix_safeguarding_alerts_identity", table_name="safeguarding_alerts")
    op.create_index(
        "ix_safeguarding_alerts_identity",
        "safeguarding_alerts",
        ["school", "identity", "window_start"],
        unique=False,
    )
    _unique_constraints(UNIQUE_UP)


def downgrade() -> None:
    _unique_constraints([(table, new, old) for table, old, new in UNIQUE_UP])
    op.drop_index("ix_safeguarding_alerts_identity", table_name="safeguarding_alerts")
    op.create_index(
        "ix_safeguarding_alerts_identity",
        "safeguarding_alerts",
        ["identity", "window_start"],
        unique=False,
    )
    op.drop_index(op.f("ix_events_school_last_seen"), table_name="events")
    op.execute(
        "UPDATE digests_sent SET period_key = substr(period_key, length(school) + 2) "
        "WHERE period_key IS NOT NULL AND period_key LIKE school || ':%'"
    )
    # Plain DROP COLUMN (SQLite 3.35+), not a batch rebuild: rebuilding `events` would trip
    # the audit trail's triggers, which name it.
    op.execute("ALTER TABLE console_users DROP COLUMN schools")
    for table in (*TABLES, "audit_trail"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN school")
