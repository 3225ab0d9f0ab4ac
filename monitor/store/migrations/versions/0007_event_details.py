"""A folded event keeps every distinct search term and URL path it folds, with counts.

- `event_details`: (event, kind term|path, value) with count and first/last seen; at most 100
  values of each kind per event (the writer's bound); goes with its event (ON DELETE CASCADE).
- `events.more_terms`, `events.more_paths`: visits past that bound, counted.
- Existing events get their own search term as their first detail, so the console shows
  one list for old and new events alike.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_details",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("event_pk", BIG_ID, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=1024), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_pk"], ["events.pk"], name=op.f("fk_event_details_event_pk_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_event_details")),
        sa.UniqueConstraint(
            "event_pk", "kind", "value", name=op.f("uq_event_details_event_pk_kind_value")
        ),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("more_terms", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("more_paths", sa.Integer(), nullable=False, server_default="0")
        )
    op.execute(
        "INSERT INTO event_details (event_pk, kind, value, count, first_seen, last_seen) "
        "SELECT pk, 'term', substr(search_terms, 1, 1024), repeat_count, first_seen, last_seen "
        "FROM events WHERE search_terms IS NOT NULL AND search_terms <> ''"
    )


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("more_paths")
        batch_op.drop_column("more_terms")
    op.drop_table("event_details")
