"""The policy history is append-only: a recorded version can be neither changed nor deleted.

The console never updates or deletes a version (a rollback is a new version), and the annual
filtering review reads the history as the record of who changed the filter, when and why. As
for the audit trail (0002), the database itself refuses UPDATE and DELETE on `policy_versions`,
so no bug, script or hand-typed SQL can rewrite it. It holds no pupil's data to purge: files
that can name pupils are kept by hash and size only (`monitor.store.policyversions`).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

REFUSED = "the policy history is append-only: a recorded version cannot be changed or deleted"

PG_UP = f"""
CREATE FUNCTION policy_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '{REFUSED}' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION policy_versions_append_only();
CREATE TRIGGER policy_versions_no_delete BEFORE DELETE ON policy_versions
    FOR EACH ROW EXECUTE FUNCTION policy_versions_append_only();
"""

PG_DOWN = """
DROP TRIGGER IF EXISTS policy_versions_no_delete ON policy_versions;
DROP TRIGGER IF EXISTS policy_versions_no_update ON policy_versions;
DROP FUNCTION IF EXISTS policy_versions_append_only();
"""

SQLITE_UP = [
    f"""CREATE TRIGGER policy_versions_no_{verb.lower()} BEFORE {verb} ON policy_versions
    BEGIN SELECT RAISE(ABORT, '{REFUSED}'); END"""
    for verb in ("UPDATE", "DELETE")
]

SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS policy_versions_no_delete",
    "DROP TRIGGER IF EXISTS policy_versions_no_update",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_UP)
        return
    for statement in SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_DOWN)
        return
    for statement in SQLITE_DOWN:
        op.execute(statement)
