"""Review of flagged events by the Prevent lead, and the append-only audit trail behind it.

    set_status(session, event_id, ReviewStatus.REFERRED, actor="dsl.jones",
               note="Referred to Channel", referral_ref="CH-2025-0042")
    assign(session, event_id, "dsl.jones", actor="head")
    add_note(session, event_id, "Spoke to form tutor", actor="dsl.jones")
    record(session, actor="it.smith", action="unblock.approve", subject="unblock:12")
    audit_trail(session, event_id)  # oldest first
    triage(session, event_id, actor="dsl.jones", status="referred", referral_ref="CH-1")

Every change writes one `AuditEntry` (actor, when, action, from/to, note) in the caller's
session; the caller commits. A referral needs a referral reference (MASH or Channel case
number). The module offers no way to change or delete an audit entry, and the database refuses
UPDATE and DELETE on `audit_trail` too (migration 0002). Mistakes are corrected by a new entry.
Errors a person can act on raise `ReviewError` with what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from monitor.events import utcnow
from monitor.store.models import AuditEntry, Event, ReviewStatus
from monitor.store.rows import safe_text


class ReviewError(ValueError):
    """A review change that cannot be made, and why."""



def _event_for_update(session: Session, event_id: str) -> Event:
    # FOR UPDATE on PostgreSQL: two reviewers changing one event queue up instead of racing.
    event = session.scalars(
        select(Event).where(Event.event_id == event_id).with_for_update()
    ).one_or_none()
    if event is None:
        raise ReviewError(f"no event with id {event_id!r}: it may have been purged")
    return event


def _actor(actor: str) -> str:
    text = safe_text(actor, 128)
    if not text or not text.strip():
        raise ReviewError("every change needs the name of the person making it (actor)")
    return text.strip()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    event_id: str | None = None,
    subject: str | None = None,
    from_value: str | None = None,
    to_value: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
    school: str | None = None,
) -> AuditEntry:
    """Append one entry to the audit trail (also for console actions not tied to an event).
    An entry about an event is filed under the event's school unless `school` is given."""
    if school is None and event_id is not None:
        school = session.scalar(select(Event.school).where(Event.event_id == event_id))
    entry = AuditEntry(
        school=school,
        at=at or utcnow(),
        actor=_actor(actor),
        action=safe_text(action, 32) or "note",
        event_id=event_id,
        subject=safe_text(subject, 128),
        from_value=safe_text(from_value, 128),
        to_value=safe_text(to_value, 128),
        note=safe_text(note, 10_000),
    )
    session.add(entry)
    session.flush()
    return entry


def set_status(
    session: Session,
    event_id: str,
    status: ReviewStatus | str,
    *,
    actor: str,
    note: str | None = None,
    referral_ref: str | None = None,
) -> AuditEntry:
    """Move an event to `status`, recording who, when and why."""
    try:
        new = ReviewStatus(status)
    except ValueError:
        choices = ", ".join(s.value for s in ReviewStatus)
        raise ReviewError(f"unknown review status {status!r}: use one of {choices}") from None
    ref = (safe_text(referral_ref, 128) or "").strip() or None
    if new is ReviewStatus.REFERRED and not ref:
        raise ReviewError("a referral needs its reference (the MASH or Channel case number)")
    event = _event_for_update(session, event_id)
    old = event.status
    if old == new.value and ref in (None, event.referral_ref):
        raise ReviewError(f"event {event_id} is already {new.value}")
    event.status = new.value
    event.status_changed_at = utcnow()
    if ref:
        event.referral_ref = ref
    text = note if not ref else f"referral {ref}" + (f": {note}" if note else "")
    return record(
        session,
        actor=actor,
        action="status",
        event_id=event_id,
        from_value=old,
        to_value=new.value,
        note=text,
        at=event.status_changed_at,
    )


def assign(
    session: Session, event_id: str, assignee: str | None, *, actor: str, note: str | None = None
) -> AuditEntry:
    """Give an event to someone (None: unassign)."""
    event = _event_for_update(session, event_id)
    old = event.assignee
    event.assignee = safe_text(assignee, 128) if assignee else None
    return record(
        session,
        actor=actor,
        action="assign",
        event_id=event_id,
        from_value=old,
        to_value=event.assignee,
        note=note,
    )


def add_note(session: Session, event_id: str, note: str, *, actor: str) -> AuditEntry:
    """Add a note to an event's trail."""
    if not note or not note.strip():
        raise ReviewError("a note cannot be empty")
    _event_for_update(session, event_id)
    return record(session, actor=actor, action="note", event_id=event_id, note=note)


def audit_trail(session: Session, event_id: str) -> Sequence[AuditEntry]:
    """An event's trail, oldest first."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.event_id == event_id)
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return session.scalars(query).all()


@dataclass(frozen=True, slots=True)
class TriageDone:
    """What one triage form changed: the new status, the new assignee ("" unassigned), a note."""

    status: str | None = None
    assignee: str | None = None
    noted: bool = False


def triage(
    session: Session,
    event_id: str,
    *,
    actor: str,
    status: str = "",
    referral_ref: str = "",
    assignee: str = "",
    note: str = "",
) -> TriageDone:
    """The console's one form: a status change (with referral reference), an assignment and a
    note, each written to the audit trail only if it changes something. A note goes with the
    status change when there is one."""
    event = session.scalars(select(Event).where(Event.event_id == event_id)).one_or_none()
    if event is None:
        raise ReviewError("this event no longer exists (it may have been purged)")
    new_status = None
    new_ref = bool(referral_ref) and referral_ref != event.referral_ref
    if status and (status != event.status or new_ref):
        set_status(
            session, event_id, status, actor=actor, note=note or None,
            referral_ref=referral_ref or None,
        )  # fmt: skip
        new_status = status
    new_assignee = None
    if assignee != (event.assignee or ""):
        assign(session, event_id, assignee or None, actor=actor)
        new_assignee = assignee
    noted = bool(note) and new_status is None
    if noted:
        add_note(session, event_id, note, actor=actor)
    return TriageDone(new_status, new_assignee, noted)
