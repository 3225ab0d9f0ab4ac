"""Review states, assignment, notes and the append-only audit trail, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor.store import review
from monitor.store.folding import store_rows
from monitor.store.models import ReviewStatus, UnblockRequest
from monitor.store.queries import get_event
from monitor.store.review import ReviewError
from monitor.store.rows import event_row


@pytest.fixture
def event_id(engine: Engine, make_event: Any) -> str:
    event = make_event()
    with engine.begin() as conn:
        store_rows(conn, [event_row(event)], timedelta(minutes=10))
    return str(event.id)


def test_a_case_from_new_to_referred_to_closed(session: Session, event_id: str) -> None:
    review.assign(session, event_id, "dsl.jones", actor="head.teacher")
    review.set_status(session, event_id, ReviewStatus.IN_REVIEW, actor="dsl.jones")
    review.add_note(session, event_id, "Spoke to the form tutor", actor="dsl.jones")
    review.set_status(session, event_id, "escalated", actor="dsl.jones", note="pattern")
    review.set_status(
        session, event_id, ReviewStatus.REFERRED, actor="dsl.jones", referral_ref="CH-0042"
    )
    review.set_status(session, event_id, ReviewStatus.CLOSED_NO_CONCERN, actor="dsl.jones")
    session.commit()

    detail = get_event(session, event_id)
    assert detail is not None
    assert detail.event.status == "closed_no_concern"
    assert detail.event.referral_ref == "CH-0042"
    assert detail.event.assignee == "dsl.jones"
    assert [(a.action, a.from_value, a.to_value) for a in detail.audit] == [
        ("assign", None, "dsl.jones"),
        ("status", "new", "in_review"),
        ("note", None, None),
        ("status", "in_review", "escalated"),
        ("status", "escalated", "referred"),
        ("status", "referred", "closed_no_concern"),
    ]
    assert detail.audit[0].actor == "head.teacher"
    assert detail.audit[2].note == "Spoke to the form tutor"
    assert detail.audit[4].note == "referral CH-0042"
    assert all(a.at.tzinfo is not None for a in detail.audit)


def test_a_referral_needs_its_reference(session: Session, event_id: str) -> None:
    with pytest.raises(ReviewError, match="reference"):
        review.set_status(session, event_id, ReviewStatus.REFERRED, actor="dsl", referral_ref=" ")
    with pytest.raises(ReviewError, match="unknown review status 'done'"):
        review.set_status(session, event_id, "done", actor="dsl")
    with pytest.raises(ReviewError, match="already new"):
        review.set_status(session, event_id, "new", actor="dsl")
    with pytest.raises(ReviewError, match="actor"):
        review.set_status(session, event_id, "in_review", actor="  ")
    with pytest.raises(ReviewError, match="no event"):
        review.add_note(session, "nope", "x", actor="dsl")
    assert review.audit_trail(session, event_id) == []


def test_the_database_refuses_to_change_or_delete_the_audit_trail(
    engine: Engine, session: Session, event_id: str
) -> None:
    review.add_note(session, event_id, "first note", actor="dsl")
    when = datetime(2025, 3, 3, tzinfo=UTC)
    request = UnblockRequest(requested_at=when, requester="pupil.a", url="http://a.example/")
    session.add(request)
    session.flush()
    # About no event: one for a request that still exists, one about a console user (never goes).
    subject = f"unblock:{request.id}"
    review.record(session, actor="it.smith", action="unblock.approve", subject=subject)
    review.record(session, actor="admin", action="user.add", subject="user:it.smith")
    session.commit()
    for statement in (
        "UPDATE audit_trail SET note = 'rewritten'",
        "DELETE FROM audit_trail WHERE event_id IS NOT NULL",
        "DELETE FROM audit_trail WHERE event_id IS NULL",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    assert [a.note for a in review.audit_trail(session, event_id)] == ["first note"]
    assert not hasattr(review, "update_entry") and not hasattr(review, "delete_entry")


def test_trail_rows_may_go_only_after_their_event(engine: Engine, session: Session, event_id):
    review.add_note(session, event_id, "note", actor="dsl")
    session.commit()
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM events WHERE event_id = :id"), {"id": event_id})
        gone = conn.execute(text("DELETE FROM audit_trail WHERE event_id = :id"), {"id": event_id})
    assert gone.rowcount == 1
