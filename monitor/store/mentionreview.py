"""The Prevent lead's review of brand mentions, as events are reviewed (`monitor.store.review`).

    triage_mention(session, 12, actor="dsl.jones", status="dismissed", note="a namesake school")
    mention_trail(session, 12)                  # oldest first
    mention_status_counts(session, since, until)  # {"new": 3, "dismissed": 1, ...}

A mention's review status is `BrandMention.review_status` (`MentionReview`); the watcher's
`state` (new | backlog) is a different thing and is never touched here. Every change and note
writes one row of the append-only audit trail with subject `mention:N` and no event, in the
caller's session; the retention purge deletes those rows right after their mention (migration
0008 lets the guard allow it). A referral needs a reference. Errors a person can act on raise
`ReviewError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from monitor.store.models import AuditEntry, BrandMention, MentionReview
from monitor.store.review import ReviewError, TriageDone, record
from monitor.store.rows import safe_text

MENTION_STATUS_NAMES = {
    MentionReview.NEW.value: "New",
    MentionReview.IN_REVIEW.value: "In review",
    MentionReview.NO_ACTION.value: "Reviewed: no action",
    MentionReview.DISMISSED.value: "Dismissed",
    MentionReview.ESCALATED.value: "Escalated",
    MentionReview.REFERRED.value: "Referred",
}
OPEN_MENTIONS = (MentionReview.ESCALATED, MentionReview.REFERRED)
AWAITING = (MentionReview.NEW, MentionReview.IN_REVIEW)


def mention_status_name(value: str | None) -> str:
    return MENTION_STATUS_NAMES.get(value or "", value or "")


def mention_subject(mention_id: int) -> str:
    """The audit trail's subject for a mention, exactly as the guard (migration 0008) reads it."""
    return f"mention:{int(mention_id)}"


def get_mention(session: Session, mention_id: int) -> BrandMention | None:
    return session.get(BrandMention, mention_id)


def mention_trail(session: Session, mention_id: int) -> Sequence[AuditEntry]:
    """A mention's trail, oldest first."""
    query = (
        select(AuditEntry)
        .where(AuditEntry.event_id.is_(None), AuditEntry.subject == mention_subject(mention_id))
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return session.scalars(query).all()


def _for_update(session: Session, mention_id: int) -> BrandMention:
    # FOR UPDATE on PostgreSQL: two reviewers changing one mention queue up instead of racing.
    mention = session.scalars(
        select(BrandMention).where(BrandMention.id == mention_id).with_for_update()
    ).one_or_none()
    if mention is None:
        raise ReviewError("this mention no longer exists (it may have been purged)")
    return mention


def _status(status: str) -> MentionReview:
    try:
        return MentionReview(status)
    except ValueError:
        choices = ", ".join(s.value for s in MentionReview)
        raise ReviewError(f"unknown review status {status!r}: use one of {choices}") from None


def triage_mention(
    session: Session,
    mention_id: int,
    *,
    actor: str,
    status: str = "",
    referral_ref: str = "",
    note: str = "",
) -> TriageDone:
    """The console's form for one mention: a status change (with a referral reference) and a
    note, each written to the audit trail only if it changes something; a note goes with the
    status change when there is one."""
    mention = _for_update(session, mention_id)
    subject = mention_subject(mention.id)
    ref = (safe_text(referral_ref, 128) or "").strip()
    new_ref = bool(ref) and ref != mention.referral_ref
    note = note.strip()
    if status and (status != mention.review_status or new_ref):
        new = _status(status)
        if new is MentionReview.REFERRED and not (ref or mention.referral_ref):
            raise ReviewError("a referral needs its reference (the police, Prevent or case number)")
        old = mention.review_status
        mention.review_status = new.value
        mention.status_changed_at = datetime.now(UTC)
        if ref:
            mention.referral_ref = ref
        text = note if not new_ref else f"referral {ref}" + (f": {note}" if note else "")
        record(
            session, actor=actor, action="status", subject=subject, from_value=old,
            to_value=new.value, note=text or None, at=mention.status_changed_at,
        )  # fmt: skip
        return TriageDone(status=new.value)
    if not note:
        return TriageDone()
    record(session, actor=actor, action="note", subject=subject, note=note)
    return TriageDone(noted=True)


@dataclass(frozen=True, slots=True)
class MentionReviewSummary:
    """Mentions by review status, and how many had their review changed in a period."""

    by_status: dict[str, int]
    changed: int = 0

    @property
    def awaiting(self) -> int:
        return sum(self.by_status.get(s.value, 0) for s in AWAITING)

    def named(self) -> list[tuple[str, int]]:
        """(name, count) in `MentionReview` order, without the empty ones."""
        return [
            (mention_status_name(s.value), self.by_status[s.value])
            for s in MentionReview
            if self.by_status.get(s.value)
        ]


def mention_status_counts(
    session: Session, since: datetime | None = None, until: datetime | None = None
) -> dict[str, int]:
    """Mentions first seen in [since, until) by review status (either bound may be open)."""
    query = select(BrandMention.review_status, func.count())
    if since is not None:
        query = query.where(BrandMention.first_seen >= since)
    if until is not None:
        query = query.where(BrandMention.first_seen < until)
    rows = session.execute(query.group_by(BrandMention.review_status))
    return {status: int(n) for status, n in rows}


def mention_review_summary(
    session: Session, start: datetime, end: datetime
) -> MentionReviewSummary:
    """For the digest: every mention found before `end` by review status, and how many had
    their review changed in [start, end)."""
    changed = session.scalar(
        select(func.count()).where(
            BrandMention.status_changed_at >= start, BrandMention.status_changed_at < end
        )
    )
    return MentionReviewSummary(mention_status_counts(session, None, end), int(changed or 0))
