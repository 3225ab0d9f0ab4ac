"""Policy versions: every change to the policy's files, recorded by the console.

- `policy_versions`: per school (the console's own: the deployment whose files they are) a
  number 1, 2, 3 ..., when, the kind (first | edit | rollback | outside | unblock), who (NULL
  for a change made outside the console), why, what changed in words, the files that changed
  (JSON), the unified diff, the policy's version hash, the files' state (JSON: sha256, size
  and, within 2 MB, the full text) and the version it was based on or rolled back to.
  Unique on (school, number), which also serves the history's newest-first pages.

A new table only: no batch mode is needed on SQLite.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("school", sa.String(length=32), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("changed", sa.Text(), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("files", sa.Text(), nullable=False),
        sa.Column("based_on", sa.Integer(), nullable=True),
        sa.Column("rolled_back_to", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_versions")),
        sa.UniqueConstraint("school", "number", name=op.f("uq_policy_versions_school_number")),
    )


def downgrade() -> None:
    op.drop_table("policy_versions")
