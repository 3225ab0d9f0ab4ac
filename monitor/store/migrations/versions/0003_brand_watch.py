"""Brand-alert watcher: feed labels and health, mention state and alerts, per-feed sightings,
one digest per period.

- `feed_state`: label, kind, status (new/ok/warning/error), failing_since, last_status,
  last_summary, shown in the digest's failing-feeds section.
- `brand_mentions`: feed_label, publisher, state (new/backlog), reason, rule_source, alerted_at
  (the immediate email to the Prevent lead went out).
- `brand_sightings`: which entry of which feed led to a mention (per-feed dedupe on entry id).
- `digests_sent.period_key`: unique, so a restart never sends a period's digest twice.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("label", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="new")
        )
        batch_op.add_column(sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("last_summary", sa.String(length=512), nullable=True))

    with op.batch_alter_table("brand_mentions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_label", sa.String(length=256), nullable=True))
        batch_op.add_column(sa.Column("publisher", sa.String(length=512), nullable=True))
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="new")
        )
        batch_op.add_column(sa.Column("reason", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("rule_source", sa.String(length=512), nullable=True))
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "brand_sightings",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("feed_key", sa.String(length=64), nullable=False),
        sa.Column("entry_key", sa.String(length=64), nullable=False),
        sa.Column("mention_id", BIG_ID, nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["mention_id"], ["brand_mentions.id"],
            name=op.f("fk_brand_sightings_mention_id_brand_mentions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brand_sightings")),
        sa.UniqueConstraint(
            "feed_key", "entry_key", name=op.f("uq_brand_sightings_feed_key_entry_key")
        ),
    )
    with op.batch_alter_table("brand_sightings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_brand_sightings_mention_id"), ["mention_id"], unique=False
        )

    with op.batch_alter_table("digests_sent", schema=None) as batch_op:
        batch_op.add_column(sa.Column("period_key", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_digests_sent_period_key"), ["period_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("digests_sent", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_digests_sent_period_key"), type_="unique")
        batch_op.drop_column("period_key")
    with op.batch_alter_table("brand_sightings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_sightings_mention_id"))
    op.drop_table("brand_sightings")
    with op.batch_alter_table("brand_mentions", schema=None) as batch_op:
        for column in ("alerted_at", "rule_source", "reason", "state", "publisher", "feed_label"):
            batch_op.drop_column(column)
    with op.batch_alter_table("feed_state", schema=None) as batch_op:
        for column in ("last_summary", "last_status", "failing_since", "status", "kind", "label"):
            batch_op.drop_column(column)
