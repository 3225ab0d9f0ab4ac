"""Console query indexes and the audit-trail guard.

Indexes for the review console's event list (keyset pages on (sort column, pk)) and filters, and
triggers that make the audit trail append-only: UPDATE is always refused, DELETE is refused while
the event the row belongs to still exists (the retention purge removes an event first, then its
trail), and rows that belong to no event can never be deleted.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-01
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

EVENT_INDEXES = {
    "ix_events_last_seen": ["last_seen", "pk"],
    "ix_events_first_seen": ["first_seen", "pk"],
    "ix_events_status_last_seen": ["status", "last_seen", "pk"],
    "ix_events_severity_last_seen": ["severity", "last_seen", "pk"],
    "ix_events_user_last_seen": ["user_name", "last_seen"],
    "ix_events_device_last_seen": ["device", "last_seen"],
    "ix_events_category_last_seen": ["category", "last_seen"],
}

REFUSED = "the audit trail is append-only: its rows cannot be changed or deleted"

PG_UP = f"""
CREATE FUNCTION audit_trail_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND OLD.event_id IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id) THEN
        RETURN OLD;  -- the event is gone (retention purge): its trail may go too
    END IF;
    RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only();
CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
    FOR EACH ROW EXECUTE FUNCTION audit_trail_append_only();
"""

PG_DOWN = """
DROP TRIGGER IF EXISTS audit_trail_no_delete ON audit_trail;
DROP TRIGGER IF EXISTS audit_trail_no_update ON audit_trail;
DROP FUNCTION IF EXISTS audit_trail_append_only();
"""

SQLITE_UP = [
    f"""CREATE TRIGGER audit_trail_no_update BEFORE UPDATE ON audit_trail
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
    f"""CREATE TRIGGER audit_trail_no_delete BEFORE DELETE ON audit_trail
    WHEN OLD.event_id IS NULL
      OR EXISTS (SELECT 1 FROM events WHERE events.event_id = OLD.event_id)
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END""",
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_trail_no_delete",
    "DROP TRIGGER IF EXISTS audit_trail_no_update",
]


def upgrade() -> None:
    for name, columns in EVENT_INDEXES.items():
        op.create_index(name, "events", columns)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)
    else:
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
    else:
        for statement in SQLITE_DOWN:
            op.execute(statement)
    for name in EVENT_INDEXES:
        op.drop_index(name, table_name="events")
