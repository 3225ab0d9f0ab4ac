"""The audit guard lets the trail of a purged unblock request go with it.

Audit rows about an unblock request (`subject` `unblock:N`, no `event_id`) name the requester,
possibly a pupil, with the host and the reason. Under 0002 they could never be deleted, so they
outlived the request the retention purge removes. From here a row that belongs to no event may be
deleted once its subject is exactly `unblock:N` (N a positive whole number, as the console
writes it) and unblock request N no longer exists. Everything else is as 0002 left it: UPDATE is
always refused, a row about an event may go only once its event is gone, and any other row
about no event can never be deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-03
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

REFUSED = "the audit trail is append-only: its rows cannot be changed or deleted"

# At most 18 digits, so N always fits a BIGINT and the cast in the guard can never fail.
PG_UNBLOCK_SUBJECT = "^unblock:[1-9][0-9]{0,17}$"


def _pg_function(unblock_rule: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.event_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id) THEN
        RETURN OLD;  -- the event is gone (retention purge): its trail may go too
    END IF;{unblock_rule}
    RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END;
$$;
"""


PG_UNBLOCK_RULE = f"""
    IF TG_OP = 'DELETE' AND OLD.event_id IS NULL
       AND OLD.subject ~ '{PG_UNBLOCK_SUBJECT}'
       AND NOT EXISTS (SELECT 1 FROM unblock_requests
                       WHERE unblock_requests.id = CAST(substr(OLD.subject, 9) AS BIGINT)) THEN
        RETURN OLD;  -- the unblock request is gone (retention purge): its trail may go too
    END IF;"""

PG_UP = _pg_function(PG_UNBLOCK_RULE)
PG_DOWN = _pg_function("")  # 0002's function, word for word

# SQLite has no regular expressions: GLOB for the shape, a length bound for the 18 digits. The
# condition is wrapped in CASE so that a NULL anywhere (a NULL subject) refuses, never allows.
SQLITE_UNBLOCK_GONE = """OLD.event_id IS NULL
        AND OLD.subject GLOB 'unblock:[1-9]*'
        AND substr(OLD.subject, 9) NOT GLOB '*[^0-9]*'
        AND length(OLD.subject) <= 26
        AND NOT EXISTS (SELECT 1 FROM unblock_requests
                        WHERE unblock_requests.id = CAST(substr(OLD.subject, 9) AS INTEGER))"""

SQLITE_EVENT_GONE = """OLD.event_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id)"""

SQLITE_UP = f"""CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
    WHEN CASE WHEN ({SQLITE_EVENT_GONE}) OR ({SQLITE_UNBLOCK_GONE}) THEN 0 ELSE 1 END
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"""

SQLITE_DOWN = f"""CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
    WHEN OLD.event_id IS NULL
      OR EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id)
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)  # the triggers from 0002 call the function by name: they stay
        return
    op.execute("DROP TRIGGER IF EXISTS audit_trail_no_delete")
    op.execute(SQLITE_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
        return
    op.execute("DROP TRIGGER IF EXISTS audit_trail_no_delete")
    op.execute(SQLITE_DOWN)
