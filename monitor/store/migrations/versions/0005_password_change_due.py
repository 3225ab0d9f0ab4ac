"""A one-time password must be replaced at the first sign-in.

`console_users.password_change_due`: set when an account is given a one-time password (the first
administrator, `users add`); the console lets that account do nothing but set a new password
until it is cleared. Existing accounts are not affected.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "password_change_due", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("console_users", schema=None) as batch_op:
        batch_op.drop_column("password_change_due")
