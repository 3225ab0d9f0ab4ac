"""Brand mentions are reviewed like events, on both backends (migration 0008).

A mention's review status, notes and audit trail (`mention:N`, no event); the watcher's `state`
stays as it was; the guard lets a mention's trail go only once the mention is gone, and the
retention purge takes it right after the mention (a note can name a pupil).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor.store import review
from monitor.store.database import make_engine
from monitor.store.mentionreview import (
    mention_review_summary,
    mention_status_counts,
    mention_trail,
    triage_mention,
)
from monitor.store.migrate import alembic_config, upgrade
from monitor.store.models import AuditEntry, BrandMention
from monitor.store.retention import plan_purge, purge
from monitor.store.review import ReviewError

NOW = datetime(2026, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)


def add_mention(session: Session, name: str, when: datetime, state: str = "new") -> int:
    mention = BrandMention(
        mention_key=name, feed="https://alerts.example/feed", url=f"https://{name}.example/a",
        title=f"St Aidan's Academy in {name}", first_seen=when, last_seen=when, state=state,
    )  # fmt: skip
    session.add(mention)
    session.flush()
    return mention.id


def subjects(session: Session) -> set[str | None]:
    found = set(session.scalars(select(AuditEntry.subject)))
    session.rollback()  # SQLite: every transaction holds the write lock (BEGIN IMMEDIATE)
    return found


def test_triage_changes_the_review_and_writes_the_trail(session: Session) -> None:
    mention_id = add_mention(session, "backlogged", RECENT, state="backlog")
    session.commit()
    assert session.get(BrandMention, mention_id).review_status == "new"  # type: ignore[union-attr]

    done = triage_mention(session, mention_id, actor="dsl.jones", status="in_review", note="look")
    assert done.status == "in_review" and not done.noted
    assert triage_mention(session, mention_id, actor="dsl.jones", note="names pupil.b").noted
    with pytest.raises(ReviewError, match="reference"):
        triage_mention(session, mention_id, actor="dsl.jones", status="referred")
    with pytest.raises(ReviewError, match="unknown review status"):
        triage_mention(session, mention_id, actor="dsl.jones", status="closed")
    done = triage_mention(
        session, mention_id, actor="dsl.jones", status="referred", referral_ref="CTP-77"
    )
    assert done.status == "referred"
    assert triage_mention(session, mention_id, actor="dsl.jones", status="referred") == (
        review.TriageDone()
    )  # nothing changed, nothing written
    session.commit()

    mention = session.get(BrandMention, mention_id)
    assert mention is not None
    assert (mention.review_status, mention.referral_ref, mention.state) == (
        "referred", "CTP-77", "backlog"
    )  # the watcher's state is untouched
    assert mention.status_changed_at is not None
    trail = mention_trail(session, mention_id)
    assert [(a.action, a.from_value, a.to_value) for a in trail] == [
        ("status", "new", "in_review"), ("note", None, None), ("status", "in_review", "referred"),
    ]  # fmt: skip
    assert trail[1].note == "names pupil.b" and trail[2].note == "referral CTP-77"
    assert {(a.subject, a.event_id) for a in trail} == {(f"mention:{mention_id}", None)}
    with pytest.raises(ReviewError, match="no longer exists"):
        triage_mention(session, 999_999, actor="dsl.jones", status="dismissed")


def test_counts_by_review_status(session: Session) -> None:
    ids = [add_mention(session, f"m{i}", RECENT + timedelta(hours=i)) for i in range(4)]
    add_mention(session, "old", OLD)
    triage_mention(session, ids[0], actor="dsl", status="dismissed")
    triage_mention(session, ids[1], actor="dsl", status="closed_no_concern")
    session.commit()
    assert mention_status_counts(session, RECENT - timedelta(days=1), NOW) == {
        "new": 2, "dismissed": 1, "closed_no_concern": 1,
    }  # fmt: skip
    summary = mention_review_summary(session, NOW - timedelta(days=1), NOW + timedelta(days=30))
    assert summary.by_status["new"] == 3 and summary.awaiting == 3
    assert summary.named()[0] == ("New", 3)
    assert summary.changed == 0  # the changes were made today, after NOW's period
    everything = mention_review_summary(session, OLD, datetime.now(UTC) + timedelta(days=1))
    assert everything.changed == 2


def test_the_guard_keeps_a_mentions_trail_while_the_mention_exists(
    engine: Engine, session: Session
) -> None:
    mention_id = add_mention(session, "kept", RECENT)
    triage_mention(session, mention_id, actor="dsl", status="in_review", note="names pupil.c")
    session.commit()
    subject = {"s": f"mention:{mention_id}"}
    for statement in (
        "DELETE FROM audit_trail WHERE subject = :s",
        "UPDATE audit_trail SET note = 'rewritten' WHERE subject = :s",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), subject)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM brand_mentions WHERE id = :id"), {"id": mention_id})
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("UPDATE audit_trail SET actor = 'x' WHERE subject = :s"), subject)
    with engine.begin() as conn:
        gone = conn.execute(text("DELETE FROM audit_trail WHERE subject = :s"), subject)
    assert gone.rowcount == 1


@pytest.mark.parametrize(
    "subject", ["mention:", "mention:x", "mention:07", "Mention:7", "mention:7 ", "mention:-7",
                "mention:1234567890123456789"],
)  # fmt: skip
def test_other_mention_like_rows_never_go(engine: Engine, session: Session, subject: str):
    review.record(session, actor="dsl", action="note", subject=subject)
    session.commit()
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_trail"))


def test_the_purge_takes_a_mentions_trail_with_it(session: Session) -> None:
    old = add_mention(session, "old", OLD)
    triage_mention(session, old, actor="dsl", note="names pupil.d")
    # An old open case stays, with its trail, until closed and its period has passed.
    escalated = add_mention(session, "escalated", OLD)
    triage_mention(session, escalated, actor="dsl", status="escalated")
    recent = add_mention(session, "recent", RECENT)
    triage_mention(session, recent, actor="dsl", status="dismissed")
    session.commit()
    session.execute(  # as if the escalation had been made long ago
        BrandMention.__table__.update()
        .where(BrandMention.id == escalated)
        .values(status_changed_at=OLD)
    )
    session.commit()

    plan = plan_purge(session, 365, now=NOW)
    assert (plan.mentions, plan.mention_audit_entries, plan.held_mentions) == (1, 1, 1)
    assert "audit entries of those mentions to purge: 1" in plan.describe()
    result = purge(session, 365, now=NOW)
    session.commit()
    assert (result.mentions, result.mention_audit_entries) == (1, 1)
    assert "1 audit entries" in str(result)
    assert subjects(session) == {f"mention:{escalated}", f"mention:{recent}"}
    assert session.get(BrandMention, escalated) is not None


def test_downgrade_to_0007_restores_the_old_guard(empty_url: str) -> None:
    upgrade(empty_url)
    engine = make_engine(empty_url)
    with Session(engine) as session:
        mention_id = add_mention(session, "m", RECENT)
        review.record(session, actor="dsl", action="note", subject=f"mention:{mention_id}")
        session.commit()
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM brand_mentions"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_trail"))
    upgrade(empty_url)
    with engine.begin() as conn:
        assert conn.execute(text("DELETE FROM audit_trail")).rowcount == 1
    engine.dispose()
