"""Instant alerts to the Prevent lead for serious gateway events.

- `safeguarding_alerts`: one alert per identity per window, with each channel's state, the
  attempts and the last error (a failed send is retried, never dropped).
- `events.alert_id`: which alert told the lead of an event. Events stored before this
  revision are left unalerted: the alerter looks only at recent events, so an upgrade does not
  flood the lead with old ones.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "safeguarding_alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(length=200), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("send_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_count", sa.Integer(), nullable=False),
        sa.Column("worst_severity", sa.SmallInteger(), nullable=False),
        sa.Column("mail_state", sa.String(length=8), nullable=False),
        sa.Column("webhook_state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=1024), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safeguarding_alerts")),
    )
    op.create_index(
        "ix_safeguarding_alerts_identity", "safeguarding_alerts", ["identity", "window_start"]
    )
    op.create_index("ix_safeguarding_alerts_due", "safeguarding_alerts", ["sent_at", "send_after"])
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_id", BIG_ID, nullable=True))
        batch_op.create_index("ix_events_alert_id", ["alert_id"])


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_alert_id")
        batch_op.drop_column("alert_id")
    op.drop_index("ix_safeguarding_alerts_due", table_name="safeguarding_alerts")
    op.drop_index("ix_safeguarding_alerts_identity", table_name="safeguarding_alerts")
    op.drop_table("safeguarding_alerts")
