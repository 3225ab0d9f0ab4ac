"""The host-only context log: one row per identity, minute, host and action.

- `context_log`: identity (`user:x` | `device:x` | `address:x`), minute (UTC), host, action and
  the number of requests folded in; unique on (identity, minute, host, action), which the
  writer's upsert folds on and the console's "an hour either side" reads by; `minute` indexed
  for the retention purge. No path, no query, no page body.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "context_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_log")),
        sa.UniqueConstraint(
            "identity",
            "minute",
            "host",
            "action",
            name=op.f("uq_context_log_identity_minute_host_action"),
        ),
    )
    op.create_index(op.f("ix_context_log_minute"), "context_log", ["minute"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_context_log_minute"), table_name="context_log")
    op.drop_table("context_log")
