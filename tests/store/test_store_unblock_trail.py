"""The audit trail of an unblock request goes with the request, on both backends (migration 0004).

Audit rows about an unblock request (`subject` `unblock:N`, no event) name the requester, maybe a
pupil. The guard lets them be deleted once request N is gone, never before, never UPDATEd; the
retention purge deletes them right after the requests.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor.store import review
from monitor.store.database import make_engine
from monitor.store.migrate import alembic_config, current_revision, upgrade
from monitor.store.models import AuditEntry, UnblockRequest
from monitor.store.retention import plan_purge, purge

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)


def add_request(session: Session, name: str, when: datetime, status: str = "open") -> int:
    """A request with its trail as the console writes it: the request, then the decision."""
    request = UnblockRequest(
        requested_at=when,
        requester=f"pupil.{name}",
        url=f"http://{name}.example/page",
        host=f"{name}.example",
        reason="needed for homework",
        status=status,
        decided_by=None if status == "open" else "it.staff",
        decided_at=None if status == "open" else when,
    )
    session.add(request)
    session.flush()
    subject = f"unblock:{request.id}"
    review.record(
        session, actor=f"pupil.{name}", action="unblock.request", subject=subject,
        note=f"{name}.example: needed for homework",
    )
    if status != "open":
        review.record(
            session, actor="it.staff", action=f"unblock.{status[:-1]}", subject=subject,
            from_value="open", to_value=status,
        )
    return request.id


def add_legacy_request(session: Session, name: str, when: datetime, status: str = "open") -> int:
    """`add_request` for a store at an old revision (before schools: no `school` columns)."""
    decided = status != "open"
    request_id = session.execute(
        text(
            "INSERT INTO unblock_requests (requested_at, requester, url, host, reason, status,"
            " decided_by, decided_at) VALUES (:at, :who, :url, :host, 'needed for homework',"
            " :status, :by, :decided) RETURNING id"
        ),
        {"at": str(when.replace(tzinfo=None)), "who": f"pupil.{name}", "url": f"http://{name}.example/page",
         "host": f"{name}.example", "status": status, "by": "it.staff" if decided else None,
         "decided": str(when.replace(tzinfo=None)) if decided else None},
    ).scalar_one()  # fmt: skip
    entries = [(f"pupil.{name}", "unblock.request")]
    if decided:
        entries.append(("it.staff", f"unblock.{status[:-1]}"))
    for actor, action in entries:
        session.execute(
            text(
                "INSERT INTO audit_trail (at, actor, action, subject) VALUES (:at, :actor,"
                " :action, :subject)"
            ),
            {"at": str(when.replace(tzinfo=None)), "actor": actor, "action": action,
             "subject": f"unblock:{request_id}"},
        )  # fmt: skip
    return int(request_id)


def trail(session: Session) -> list[tuple[str, str | None]]:
    rows = session.execute(select(AuditEntry.actor, AuditEntry.subject).order_by(AuditEntry.id))
    found = [(actor, subject) for actor, subject in rows]
    session.rollback()  # SQLite: every transaction holds the write lock (BEGIN IMMEDIATE)
    return found


def test_the_trail_goes_with_its_request(session: Session) -> None:
    old_approved = add_request(session, "approved-old", OLD, "approved")
    old_denied = add_request(session, "denied-old", OLD, "denied")
    pending = add_request(session, "pending-old", OLD)
    recent = add_request(session, "approved-recent", RECENT, "approved")
    review.record(session, actor="admin", action="user.add", subject="user:it.staff")
    session.commit()

    plan = plan_purge(session, 365, now=NOW)
    assert (plan.unblock_requests, plan.unblock_audit_entries) == (2, 4)
    assert "decided unblock requests to purge: 2 (with 4 audit entries)" in plan.describe()
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 8  # dry run

    result = purge(session, 365, now=NOW)
    session.commit()
    assert (result.unblock_requests, result.unblock_audit_entries) == (2, 4)
    assert "2 decided unblock requests (4 audit entries)" in str(result)
    subjects = {subject for _, subject in trail(session)}
    assert subjects == {f"unblock:{pending}", f"unblock:{recent}", "user:it.staff"}
    assert {f"unblock:{old_approved}", f"unblock:{old_denied}"}.isdisjoint(subjects)
    assert ("pupil.approved-old", f"unblock:{old_approved}") not in trail(session)
    # Nothing left to do: a second purge finds nothing.
    assert plan_purge(session, 365, now=NOW).unblock_audit_entries == 0
    assert purge(session, 365, now=NOW).unblock_audit_entries == 0


def test_rows_for_a_request_that_exists_cannot_be_deleted(engine: Engine, session: Session):
    request_id = add_request(session, "kept", RECENT, "denied")
    session.commit()
    subject = {"s": f"unblock:{request_id}"}
    for statement in (
        "DELETE FROM audit_trail WHERE subject = :s",
        "UPDATE audit_trail SET note = 'rewritten' WHERE subject = :s",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), subject)
    assert len(trail(session)) == 2

    # Once the request is gone its rows may go, but they still cannot be changed.
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM unblock_requests WHERE id = :id"), {"id": request_id})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_trail SET actor = 'x' WHERE subject = :s"), subject)
    with engine.begin() as conn:
        gone = conn.execute(text("DELETE FROM audit_trail WHERE subject = :s"), subject)
    assert gone.rowcount == 2
    assert trail(session) == []


@pytest.mark.parametrize(
    "subject",
    [None, "user:it.staff", "unblock:", "unblock:x", "unblock:07", "unblock:7 ", "Unblock:7",
     "unblock:-7", "unblock:7:8", "unblock:1234567890123456789"],
)
def test_other_rows_about_no_event_never_go(engine: Engine, session: Session, subject: str | None):
    review.record(session, actor="it.staff", action="console", subject=subject)
    session.commit()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_trail"))
    assert len(trail(session)) == 1


def test_a_row_about_an_event_keeps_the_event_rule(engine: Engine, session: Session):
    # Named like an unblock row, but it belongs to an event: it waits for the event, which in
    # this test never existed, so it may go; the unblock rule does not make it any stricter.
    request_id = add_request(session, "with-event", RECENT)
    review.record(
        session, actor="dsl", action="note", event_id="gone-event", subject=f"unblock:{request_id}"
    )
    session.commit()
    with engine.begin() as conn:
        gone = conn.execute(text("DELETE FROM audit_trail WHERE event_id = 'gone-event'"))
    assert gone.rowcount == 1


def test_upgrade_from_0003_lets_leftover_rows_go_and_downgrade_restores_the_old_guard(
    empty_url: str,
) -> None:
    assert upgrade(empty_url, "0003") == "0003"
    engine = make_engine(empty_url)
    with Session(engine) as session:
        gone_id = add_legacy_request(session, "purged-under-0003", OLD, "denied")
        kept_id = add_legacy_request(session, "kept", RECENT)
        session.commit()
    with engine.begin() as conn:
        # What a purge under 0003 did: the request went, its trail had to stay.
        conn.execute(text("DELETE FROM unblock_requests WHERE id = :id"), {"id": gone_id})
    leftover = {"s": f"unblock:{gone_id}"}
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_trail WHERE subject = :s"), leftover)

    assert upgrade(empty_url, "0004") == "0004"
    with engine.begin() as conn:  # the guard lets them go now (the purge: the test below)
        gone = conn.execute(text("DELETE FROM audit_trail WHERE subject = :s"), leftover)
    assert gone.rowcount == 2
    with engine.connect() as conn:
        subjects = set(conn.scalars(text("SELECT subject FROM audit_trail")))
    assert subjects == {f"unblock:{kept_id}"}

    # Downgrade: the 0002 guard again, rows about no event can never be deleted.
    _downgrade(empty_url, "0003")
    assert current_revision(engine) == "0003"
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM unblock_requests WHERE id = :id"), {"id": kept_id})
    for statement in ("DELETE FROM audit_trail", "UPDATE audit_trail SET note = 'x'"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert upgrade(empty_url, "0004") == "0004"  # and up again
    with engine.begin() as conn:
        assert conn.execute(text("DELETE FROM audit_trail")).rowcount == 1
    engine.dispose()


def _downgrade(url: str, revision: str) -> None:
    engine = make_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)
    engine.dispose()


def test_the_purge_sweeps_rows_left_by_requests_purged_under_0003(empty_url: str) -> None:
    assert upgrade(empty_url, "0003") == "0003"
    engine = make_engine(empty_url)
    with Session(engine) as session:
        gone_id = add_legacy_request(session, "purged-under-0003", OLD, "denied")
        kept_id = add_legacy_request(session, "kept", RECENT)
        session.commit()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM unblock_requests WHERE id = :id"), {"id": gone_id})
    upgrade(empty_url)  # the purge is today's code: it needs today's schema
    with Session(engine) as session:
        assert plan_purge(session, 365, now=NOW).unblock_audit_entries == 2
        assert purge(session, 365, now=NOW).unblock_audit_entries == 2
        session.commit()
        assert {subject for _, subject in trail(session)} == {f"unblock:{kept_id}"}
    engine.dispose()
