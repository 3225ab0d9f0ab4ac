"""Unblock requests: what the block page's public form stores and how IT staff answer them.

    request_id = add_request(session, url=..., host=..., requester=..., reason=..., ref=...)
    list_requests(session)                      # open ones first, then newest first
    get_request(session, request_id)
    decide_request(session, request_id, "approved", actor=..., decision_note=..., ...)

Every request and every answer is written to the audit trail (`monitor.store.review.record`) in
the same transaction. The policy change an approval makes is the console's business
(`monitor.console.policyedit`); this module keeps the request's own record.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from monitor.schools import DEFAULT_SCHOOL_ID
from monitor.store.models import Event, EventReceipt, UnblockRequest
from monitor.store.review import record


def add_request(
    session: Session,
    *,
    url: str,
    host: str,
    requester: str | None,
    reason: str,
    ref: str,
    school: str = DEFAULT_SCHOOL_ID,
) -> int:
    """Store a request from the block page; `ref` names the visit it came from ("" if none),
    by the reference its block page showed (a folded visit's leads to the event it went into).
    The rule and the school are taken from that event, so IT staff see why the page was
    blocked and the right school answers; without one the request is `school`'s."""
    event = None
    if ref:
        event = session.scalar(
            select(Event)
            .join(EventReceipt, EventReceipt.event_pk == Event.pk)
            .where(EventReceipt.event_id == ref[:64])
        ) or session.scalar(select(Event).where(Event.event_id == ref[:64]))
    item = UnblockRequest(
        school=event.school if event else school,
        requested_at=datetime.now(UTC),
        requester=requester,
        url=url,
        host=host or None,
        rule=event.rule if event else None,
        reason=reason,
        event_id=event.event_id if event else None,
        status="open",
    )
    session.add(item)
    session.flush()
    record(
        session,
        actor=requester or "block page",
        action="unblock.request",
        subject=f"unblock:{item.id}",
        event_id=None,
        school=item.school,
        note=f"{host}: {reason}"[:2000],
    )
    return item.id


def list_requests(session: Session, limit: int = 200) -> list[UnblockRequest]:
    open_first = case((UnblockRequest.status == "open", 0), else_=1)
    query = (
        select(UnblockRequest)
        .order_by(open_first, UnblockRequest.requested_at.desc(), UnblockRequest.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))


def get_request(session: Session, request_id: int) -> UnblockRequest | None:
    return session.get(UnblockRequest, request_id)


def open_request_count(session: Session) -> int:
    query = select(func.count()).select_from(UnblockRequest).where(UnblockRequest.status == "open")
    return session.scalar(query) or 0


def decide_request(
    session: Session,
    request_id: int,
    status: str,
    *,
    actor: str,
    decision_note: str,
    to_value: str,
    note: str,
) -> None:
    """Close a request as `status` ("approved" or "denied") and record who decided and why."""
    current = session.get(UnblockRequest, request_id)
    if current is None:
        return
    current.status = status
    current.decided_by = actor
    current.decided_at = datetime.now(UTC)
    current.decision_note = decision_note[:2048]
    record(
        session,
        actor=actor,
        action="unblock.approve" if status == "approved" else "unblock.deny",
        subject=f"unblock:{request_id}",
        from_value="open",
        to_value=to_value,
        note=note,
        school=current.school,
    )
