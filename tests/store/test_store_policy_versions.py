"""Policy versions in the store (migration 0012), on SQLite and PostgreSQL: numbered per school,
the diff made against the texts the version before kept, a save on an old version refused
with who changed it when, two schools' histories apart, hostile values stored safely."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from monitor.store.database import make_sessionmaker
from monitor.store.policyversions import (
    MAX_KEPT_BYTES,
    FileState,
    VersionConflict,
    get_version,
    latest_version,
    list_versions,
    record_version,
    versions_between,
)
from monitor.store.runner import Store

T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
BLOCK_V1 = "# local block list\ncategory: extremism\nentries: []\n"
BLOCK_V2 = "# local block list\ncategory: extremism\nentries:\n  - {domain: bad.example, note: x}\n"


def state(text: str | None, note: str = "") -> FileState:
    data = (text or "binary").encode()
    return FileState(hashlib.sha256(data).hexdigest(), len(data), text, note)


def record(session: Session, files: dict[str, FileState], based_on: int | None, **kw: object):
    values: dict[str, object] = {
        "school": "school", "kind": "edit", "actor": "it.smith", "reason": "why",
        "policy_hash": "abc123", "at": T0,
    }  # fmt: skip
    values.update(kw)
    return record_version(session, files=files, based_on=based_on, **values)  # type: ignore[arg-type]


def test_versions_number_per_school_and_diff_against_the_last_kept_texts(session: Session) -> None:
    first = record(session, {"local/block.yaml": state(BLOCK_V1)}, None, kind="first", actor=None)
    assert (first.number, first.changed) == (1, ("local/block.yaml",))
    second = record(session, {"local/block.yaml": state(BLOCK_V2)}, 1, reason="CTIRU ref 12")
    session.commit()
    assert second.number == 2
    got = get_version(session, "school", 2)
    assert got is not None and got.changed == ("local/block.yaml",)
    assert "--- a/local/block.yaml" in got.diff and "+++ b/local/block.yaml" in got.diff
    assert "-entries: []\n" in got.diff and "+  - {domain: bad.example, note: x}\n" in got.diff
    assert got.files["local/block.yaml"].text == BLOCK_V2
    assert (got.actor, got.reason, got.based_on) == ("it.smith", "CTIRU ref 12", 1)
    assert get_version(session, "school", 1).diff == ""  # type: ignore[union-attr]
    listed = list_versions(session, "school")
    assert [v.number for v in listed] == [2, 1] and listed[0].diff == "" and not listed[0].files
    assert listed[1].who == "the console" and listed[0].who == "it.smith"
    assert listed[1].summary == "changed local/block.yaml"  # said for it when not given
    assert listed[0].summary == "changed local/block.yaml"


def test_a_save_on_an_older_version_is_refused_naming_who_and_when(session: Session) -> None:
    record(session, {"a.yaml": state("one\n")}, None)
    record(session, {"a.yaml": state("two\n")}, 1, actor="it.jones", at=T0 + timedelta(hours=1))
    outside = record(session, {"a.yaml": state("two\n")}, 2, kind="outside", actor=None)
    assert outside.who == "changed outside the console" and outside.changed == ()
    assert outside.summary == "no file changed"
    with pytest.raises(VersionConflict) as caught:
        record(session, {"a.yaml": state("three\n")}, 2)
    assert caught.value.latest is not None and caught.value.latest.number == 3
    assert "version 3 (changed outside the console, 2026-09-01 08:00 UTC)" in str(caught.value)
    with pytest.raises(VersionConflict, match=r"version 3 \(changed outside"):
        record(session, {"a.yaml": state("three\n")}, 1)
    with pytest.raises(VersionConflict, match="no recorded version yet"):
        record(session, {"a.yaml": state("x\n")}, 5, school="other")


def test_schools_keep_their_own_histories(session: Session) -> None:
    record(session, {"a.yaml": state("north\n")}, None, school="northfield")
    record(session, {"a.yaml": state("south\n")}, None, school="southfield")
    record(session, {"a.yaml": state("north 2\n")}, 1, school="northfield")
    assert [v.number for v in list_versions(session, "northfield")] == [2, 1]
    assert [v.number for v in list_versions(session, "southfield")] == [1]
    latest = latest_version(session, "southfield")
    assert latest is not None and latest.files["a.yaml"].text == "south\n"
    everyone = versions_between(session, T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert len(everyone) == 3
    assert len(versions_between(session, T0, T0 + timedelta(days=1), "northfield")) == 2


def test_files_not_kept_are_named_in_the_diff_and_hostile_values_are_stored(
    session: Session,
) -> None:
    record(session, {"policy.yaml": state("a\n"), "big.domains": state(None, "over 2 MB")}, None)
    nasty = "reason with NUL \x00 and <script>alert(1)</script> " + "é" * 3000
    files = {"policy.yaml": state("b\n"), "big.domains": FileState("f" * 64, 9, None, "over 2 MB")}
    record(session, files, 1, reason=nasty, actor="x\x00" * 100)
    session.commit()
    got = get_version(session, "school", 2)
    assert got is not None
    assert "# big.domains: changed; its text is not kept (over 2 MB)" in got.diff
    assert "\x00" not in got.reason and got.reason.startswith("reason with NUL \\x00")
    assert len(got.reason) == 2000 and got.actor is not None and len(got.actor) <= 256
    with pytest.raises(ValueError, match="at most"):
        record(session, {"x": FileState("0" * 64, 1, "x" * (MAX_KEPT_BYTES + 1))}, 2)
    with pytest.raises(ValueError, match="NUL"):
        record(session, {"x": FileState("0" * 64, 1, "a\x00b")}, 2)


def test_two_consoles_saving_on_the_same_version_at_once_one_wins(engine: Engine) -> None:
    with make_sessionmaker(engine)() as session:
        record(session, {"a.yaml": state("base\n")}, None)
        session.commit()
    stores = [Store(engine), Store(engine)]
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def save(store: Store, text: str) -> None:
        barrier.wait()
        try:
            store.write_sync(record, {"a.yaml": state(text)}, 1, reason=text)
            outcomes.append("saved")
        except VersionConflict:
            outcomes.append("refused")

    threads = [threading.Thread(target=save, args=(s, f"t{i}\n")) for i, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for store in stores:
        store.close()
    assert sorted(outcomes) == ["refused", "saved"]
    with make_sessionmaker(engine)() as session:
        assert [v.number for v in list_versions(session, "school")] == [2, 1]


def test_the_history_is_append_only_in_the_database(session: Session, engine: Engine) -> None:
    """Migration 0014: no code path, script or hand-typed SQL can rewrite or remove a version."""
    record(session, {"local/block.yaml": state(BLOCK_V1)}, None, kind="first", actor=None)
    session.commit()
    for statement in (
        "UPDATE policy_versions SET reason = 'nothing happened'",
        "DELETE FROM policy_versions",
    ):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    got = get_version(session, "school", 1)
    assert got is not None and got.reason == "why"
    assert record(session, {"local/block.yaml": state(BLOCK_V2)}, 1).number == 2  # inserts go on
