"""`prevent-monitor db purge|upgrade --config FILE` on both backends: the daemon's database and
retention period, the precedence of the ways to name a database, and plain-words output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from monitor.cli import main
from monitor.store.folding import store_rows
from monitor.store.migrate import head_revision
from monitor.store.models import BrandMention, Event, UnblockRequest
from monitor.store.rows import event_row

ENV = "PREVENT_MONITOR_DATABASE_URL"


@pytest.fixture(autouse=True)
def no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.delenv("PREVENT_MONITOR_DATABASE_PASSWORD", raising=False)


def write_config(folder: Path, url: str, retention_days: int = 365) -> Path:
    path = folder / "prevent-monitor.yaml"
    path.write_text(
        f'database:\n  url: "{url}"\n  retention_days: {retention_days}\n', encoding="utf-8"
    )
    return path


@pytest.fixture
def filled(engine: Engine, session: Session, make_event: Any) -> None:
    """Against today's clock (the command has no --now): events, requests and mentions aged
    100 and 400 days."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        store_rows(
            conn,
            [
                event_row(make_event(when=now - timedelta(days=400), user="a")),
                event_row(make_event(when=now - timedelta(days=100), user="b")),
            ],
            timedelta(minutes=10),
        )
    for days, status in ((400, "approved"), (400, "open"), (100, "denied")):
        when = now - timedelta(days=days)
        session.add(
            UnblockRequest(requested_at=when, requester="pupil.x", url="http://a.example/",
                           status=status, decided_at=when if status != "open" else None)
        )
    for days in (400, 100):
        when = now - timedelta(days=days)
        session.add(
            BrandMention(mention_key=f"m{days}", feed="http://alerts.example/feed",
                         url=f"http://news.example/{days}", first_seen=when, last_seen=when)
        )
    session.commit()


def counts(session: Session) -> tuple[int, int, int]:
    found = tuple(
        int(session.scalar(select(func.count()).select_from(table)) or 0)
        for table in (Event, UnblockRequest, BrandMention)
    )
    session.rollback()  # end the read: on SQLite it holds the write lock (BEGIN IMMEDIATE)
    return found  # type: ignore[return-value]


def test_purge_takes_database_and_period_from_the_config(
    store_url: str, filled: None, session: Session, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.chdir(tmp_path)  # no var/ here: the default database would be a new file
    config = write_config(tmp_path, store_url, retention_days=30)
    assert main(["db", "purge", "--dry-run", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "retention 30 days" in out
    for line in (
        "events to purge: 2 (2 sightings",
        "audit entries to purge with them: 0",
        "kept as open cases (escalated or referred): 0",
        "decided unblock requests to purge: 2",
        "kept as pending unblock requests (not yet decided): 1",
        "brand mentions to purge: 2 (with 0 feed sightings)",
        "kept as brand mentions of events still kept or open cases: 0",
        "digests-sent records are kept (counts and recipients, no pupil data)",
    ):
        assert line in out
    assert counts(session) == (2, 3, 2)  # the dry run changed nothing
    assert not (tmp_path / "var").exists()

    # --older-than wins over the config's period.
    assert main(["db", "purge", "--older-than", "365", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "purged 1 events" in out
    assert "1 decided unblock requests (0 audit entries), 1 brand mentions" in out
    assert "kept 0 open cases, 1 pending unblock requests" in out
    assert counts(session) == (1, 2, 1)
    assert main(["db", "purge", "--config", str(config)]) == 0  # the config's 30 days
    assert counts(session) == (0, 1, 0)  # only the pending request is left


def test_database_url_wins_over_config(
    store_url: str, filled: None, session: Session, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
):
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    config = write_config(elsewhere, "sqlite:///never-made.sqlite", retention_days=30)
    args = ["db", "purge", "--config", str(config), "--database-url", store_url]
    assert main(args) == 0
    assert counts(session) == (0, 1, 0)  # the URL from the command line, the config's period
    assert not (elsewhere / "never-made.sqlite").exists()
    capsys.readouterr()


def test_environment_url_applies_with_config_as_for_the_daemon(
    store_url: str, filled: None, session: Session, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
):
    # The daemon takes $PREVENT_MONITOR_DATABASE_URL over the file's database.url
    # (Config.database_url()); the purge unit shares its EnvironmentFile, so it must agree.
    config = write_config(tmp_path, "sqlite:///file-db.sqlite", retention_days=30)
    monkeypatch.setenv(ENV, store_url)
    assert main(["db", "purge", "--config", str(config)]) == 0
    assert counts(session) == (0, 1, 0)
    assert not (tmp_path / "file-db.sqlite").exists()
    capsys.readouterr()


def test_upgrade_with_config_resolves_sqlite_beside_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    etc = tmp_path / "etc"
    etc.mkdir()
    monkeypatch.chdir(tmp_path)
    config = write_config(etc, "sqlite:///data/store.sqlite")
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    assert f"schema at revision {head_revision()}" in capsys.readouterr().out
    assert (etc / "data" / "store.sqlite").is_file()
    assert not (tmp_path / "data").exists()


def test_upgrade_with_config_on_both_backends(
    empty_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    config = write_config(tmp_path, empty_url)
    assert main(["db", "upgrade", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert f"schema at revision {head_revision()}" in out
    assert make_url(empty_url).get_backend_name() in out


def test_bad_config_is_explained(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    missing = tmp_path / "missing.yaml"
    assert main(["db", "purge", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "cannot read the file" in err

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("database:\n  retention_days: soon\n", encoding="utf-8")
    assert main(["db", "upgrade", "--config", str(wrong)]) == 2
    assert "database.retention_days" in capsys.readouterr().err

    negative = write_config(tmp_path, f"sqlite:///{tmp_path}/x.sqlite", retention_days=-1)
    assert main(["db", "purge", "--config", str(negative)]) == 2
    assert "database.retention_days must be 0 or more days" in capsys.readouterr().err

    not_a_db = write_config(tmp_path, "mysql://x@y/z")
    assert main(["db", "purge", "--config", str(not_a_db)]) == 2
    assert "use sqlite or postgresql" in capsys.readouterr().err
