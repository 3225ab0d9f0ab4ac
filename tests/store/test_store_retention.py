"""Retention on both backends, and `prevent-monitor db purge` / `db upgrade`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from monitor.cli import main
from monitor.store import review
from monitor.store.folding import store_rows
from monitor.store.migrate import head_revision
from monitor.store.models import AuditEntry, Event, EventReceipt
from monitor.store.retention import plan_purge, purge
from monitor.store.rows import event_row

NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def aged(engine: Engine, session: Session, make_event: Any) -> dict[str, str]:
    """Events of various ages and review states."""
    old = NOW - timedelta(days=400)
    events = {
        "old_new": make_event(when=old, user="a"),
        "old_closed": make_event(when=old, user="b"),
        "old_escalated": make_event(when=old, user="c"),
        "old_referred": make_event(when=old, user="d"),
        "old_closed_lately": make_event(when=old, user="e"),
        "recent": make_event(when=NOW - timedelta(days=10), user="f"),
    }
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in events.values()], timedelta(minutes=10))
    ids = {name: e.id for name, e in events.items()}
    review.set_status(session, ids["old_closed"], "closed_no_concern", actor="dsl")
    review.set_status(session, ids["old_escalated"], "escalated", actor="dsl")
    review.set_status(session, ids["old_referred"], "referred", actor="dsl", referral_ref="M-1")
    review.set_status(session, ids["old_closed_lately"], "escalated", actor="dsl")
    review.set_status(session, ids["old_closed_lately"], "false_positive", actor="dsl")
    # The review changes happened long ago, except the late closing (a month before NOW).
    session.execute(update(Event).values(status_changed_at=old + timedelta(days=1)))
    session.execute(
        update(Event)
        .where(Event.event_id == ids["old_closed_lately"])
        .values(status_changed_at=NOW - timedelta(days=30))
    )
    session.commit()
    return ids


def test_purge_keeps_open_cases_and_recent_closings(session: Session, aged: dict[str, str]):
    plan = plan_purge(session, 365, now=NOW)
    assert (plan.events, plan.held_open_cases, plan.audit_entries) == (2, 2, 1)
    assert session.scalar(select(func.count()).select_from(Event)) == 6  # dry run: nothing went

    result = purge(session, 365, now=NOW)
    session.commit()
    assert (result.events, result.audit_entries) == (2, 1)
    left = set(session.scalars(select(Event.event_id)))
    assert left == {
        aged["old_escalated"], aged["old_referred"], aged["old_closed_lately"], aged["recent"]
    }
    assert session.scalar(select(func.count()).select_from(EventReceipt)) == 4
    assert aged["old_closed"] not in set(session.scalars(select(AuditEntry.event_id)))

    # Once the referral is closed (at NOW), it stays for the period counted from the closing.
    review.set_status(session, aged["old_referred"], "closed_no_concern", actor="dsl")
    session.execute(
        update(Event).where(Event.event_id == aged["old_referred"]).values(status_changed_at=NOW)
    )
    session.commit()
    assert purge(session, 365, now=NOW + timedelta(days=364)).events == 2  # recent, lately
    assert set(session.scalars(select(Event.event_id))) == {
        aged["old_escalated"], aged["old_referred"]
    }
    assert purge(session, 365, now=NOW + timedelta(days=366)).events == 1
    assert set(session.scalars(select(Event.event_id))) == {aged["old_escalated"]}


def test_db_commands(store_url: str, aged: dict[str, str], capsys: pytest.CaptureFixture[str]):
    assert main(["db", "upgrade", "--database-url", store_url]) == 0
    assert f"schema at revision {head_revision()}" in capsys.readouterr().out
    # NOW is in the future of the fixture's data only relative to today; use a 0-day period so
    # everything not held is due, whatever today's date is.
    assert main(["db", "purge", "--dry-run", "--older-than", "0", "--database-url", store_url]) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing deleted" in out
    assert "kept as open cases (escalated or referred): 2" in out
    assert "events to purge: 4" in out
    assert main(["db", "purge", "--older-than", "0", "--database-url", store_url]) == 0
    assert "purged 4 events" in capsys.readouterr().out


def test_db_commands_explain_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Any):
    assert main(["db", "purge", "--database-url", "mysql://x@y/z"]) == 2
    assert "use sqlite or postgresql" in capsys.readouterr().err
    assert main(["db", "purge", "--database-url", f"sqlite:///{tmp_path}/empty.sqlite"]) == 1
    assert "prevent-monitor db upgrade" in capsys.readouterr().err


def test_without_a_config_only_a_named_database_is_used(
    monkeypatch: Any, tmp_path: Any, capsys: Any
):
    """No config file and no URL: `db upgrade` refuses and names the config it looked for,
    rather than creating `var/prevent-monitor.sqlite` in the working folder (a second store)."""
    import monitor.config

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PREVENT_MONITOR_DATABASE_URL", raising=False)
    monkeypatch.delenv("PREVENT_MONITOR_CONFIG", raising=False)
    monkeypatch.setattr(monitor.config, "DEFAULT_CONFIG_PATH", str(tmp_path / "none.yaml"))
    assert main(["db", "upgrade"]) == 2
    assert f"looked for {tmp_path}/none.yaml" in capsys.readouterr().err
    assert not (tmp_path / "var").exists()
    monkeypatch.setenv("PREVENT_MONITOR_DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite")
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / "env.sqlite").is_file()
