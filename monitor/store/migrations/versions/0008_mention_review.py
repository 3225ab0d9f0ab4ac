"""Brand mentions are reviewed like events, and their audit trail goes with them.

- `brand_mentions.review_status` (new, in_review, closed_no_concern, dismissed, escalated,
  referred; `MentionReview`), `status_changed_at` and `referral_ref`. Existing mentions start as
  `new`. The watcher's `state` (new | backlog) is unchanged.
- The audit guard: rows about a mention (`subject` `mention:N`, no `event_id`) hold the Prevent
  lead's notes, which can name a pupil. Like `unblock:N` rows (0004) they may be deleted once
  mention N no longer exists, never before. Everything else is as 0004 left it: UPDATE is always
  refused, a row about an event may go only once its event is gone, an `unblock:N` row once its
  request is gone, any other row about no event never.

Revision ID: 0008
Revises: 0007
Create Date: 2027-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REFUSED = "the audit trail is append-only: its rows cannot be changed or deleted"


def _pg_rule(prefix: str, table: str, why: str) -> str:
    # At most 18 digits, so N always fits a BIGINT and the cast can never fail. Both prefixes
    # ("unblock:", "mention:") are 8 characters, so N starts at character 9.
    assert len(prefix) == 8
    return f"""
    IF TG_OP = 'DELETE' AND OLD.event_id IS NULL
       AND OLD.subject ~ '^{prefix}[1-9][0-9]{{0,17}}$'
       AND NOT EXISTS (SELECT 1 FROM {table}
                       WHERE {table}.id = CAST(substr(OLD.subject, 9) AS BIGINT)) THEN
        RETURN OLD;  -- {why}
    END IF;"""


def _pg_function(rules: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.event_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id) THEN
        RETURN OLD;  -- the event is gone (retention purge): its trail may go too
    END IF;{rules}
    RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


PG_UNBLOCK_RULE = _pg_rule(
    "unblock:", "unblock_requests",
    "the unblock request is gone (retention purge): its trail may go too",
)  # fmt: skip
PG_MENTION_RULE = _pg_rule(
    "mention:", "brand_mentions", "the mention is gone (retention purge): its trail may go too"
)
PG_UP = _pg_function(PG_UNBLOCK_RULE + PG_MENTION_RULE)
PG_DOWN = _pg_function(PG_UNBLOCK_RULE)  # 0004's function, word for word


def _sqlite_gone(prefix: str, table: str) -> str:
    # SQLite has no regular expressions: GLOB for the shape, a length bound for the 18 digits.
    return f"""OLD.event_id IS NULL
        AND OLD.subject GLOB '{prefix}[1-9]*'
        AND substr(OLD.subject, 9) NOT GLOB '*[^0-9]*'
        AND length(OLD.subject) <= 26
        AND NOT EXISTS (SELECT 1 FROM {table}
                        WHERE {table}.id = CAST(substr(OLD.subject, 9) AS INTEGER))"""


SQLITE_EVENT_GONE = """OLD.event_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id)"""


def _sqlite_trigger(*allowed: str) -> str:
    # Wrapped in CASE so that a NULL anywhere (a NULL subject) refuses, never allows.
    condition = " OR ".join(f"({rule})" for rule in allowed)
    return f"""CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
    WHEN CASE WHEN {condition} THEN 0 ELSE 1 END
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"""


SQLITE_UP = _sqlite_trigger(
    SQLITE_EVENT_GONE,
    _sqlite_gone("unblock:", "unblock_requests"),
    _sqlite_gone("mention:", "brand_mentions"),
)
SQLITE_DOWN = _sqlite_trigger(SQLITE_EVENT_GONE, _sqlite_gone("unblock:", "unblock_requests"))


def upgrade() -> None:
    with op.batch_alter_table("brand_mentions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("review_status", sa.String(length=20), nullable=False, server_default="new")
        )
        batch_op.add_column(
            sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("referral_ref", sa.String(length=128), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_brand_mentions_review_status"), ["review_status"], unique=False
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)  # the triggers from 0002 call the function by name: they stay
        return
    op.execute("DROP TRIGGER IF EXISTS audit_trail_no_delete")
    op.execute(SQLITE_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_trail_no_delete")
        op.execute(SQLITE_DOWN)
    with op.batch_alter_table("brand_mentions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_brand_mentions_review_status"))
        batch_op.drop_column("referral_ref")
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("review_status")
