"""Feed state per school: two schools watching one feed URL each poll it as their own.

- `feed_state.school` (NOT NULL): existing rows go to the configured default school (the caller
  passes it as `config.attributes["default_school"]`, as in 0011), kept as the server default.
- The unique key becomes (school, feed_url). With one row per URL, the second school's
  conditional GET carried the first school's ETag and was answered 304: it never saw the entries
  the first had already fetched, and it waited for the first school's next poll.

Downgrading keeps the oldest row of each URL (the key cannot hold two).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    school = str(context.config.attributes.get("default_school") or "school")
    with op.batch_alter_table("feed_state") as batch:
        batch.add_column(
            sa.Column("school", sa.String(length=32), nullable=False, server_default=school)
        )
        batch.drop_constraint("uq_feed_state_feed_url", type_="unique")
        batch.create_unique_constraint("uq_feed_state_school_feed_url", ["school", "feed_url"])


def downgrade() -> None:
    op.execute(
        "DELETE FROM feed_state WHERE id NOT IN (SELECT MIN(id) FROM feed_state GROUP BY feed_url)"
    )
    with op.batch_alter_table("feed_state") as batch:
        batch.drop_constraint("uq_feed_state_school_feed_url", type_="unique")
        batch.create_unique_constraint("uq_feed_state_feed_url", ["feed_url"])
        batch.drop_column("school")
