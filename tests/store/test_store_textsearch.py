"""The console's free-text search from the text index (issue 17 item 6) gives exactly what the
ILIKE scan before it gave, on both backends, for every kind of term: wildcards, quotes,
backslashes, Unicode case, one and two characters, and substrings of what is stored.

The dataset mixes real-world URLs (the Google Alerts feed in tests/data/feeds, wrapped and
unwrapped), real school searches (tests/data/corpus) and fictional rows built to be awkward.
Migration 0010 indexes the events already stored, and its downgrade removes the index."""

from __future__ import annotations

import html
import random
import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, select, text
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from monitor.store import queries, textsearch
from monitor.store.database import make_engine, make_sessionmaker
from monitor.store.folding import store_rows
from monitor.store.migrate import alembic_config, current_revision, head_revision, upgrade
from monitor.store.models import Event
from monitor.store.queries import EventFilter, count_events, list_events
from monitor.store.rows import event_row

DATA = Path(__file__).resolve().parents[1] / "data"
AWKWARD = [
    # (url, search terms, user, reason)
    ("http://shop.test/p?q=100%_off", "100% legit", "pupil_1", "listed: 100%_off"),
    ("http://o-brien.test/it's", "o'brien 'quoted'", "o'neil.b", 'said "free speech"'),
    ("http://path.test/C:\\dir\\file", "back\\slash \\%", "pupil%2", "a \\ b"),
    ("http://café.test/déjà-vu", "Café Déjà vu", "zoë.a", "CAFÉ DÉJÀ"),
    ("http://strasse.test/straße", "STRASSE straße", "ßoren", "Straße"),
    ("http://istanbul.test/İstanbul", "ıi İI", "ılgın", "İSTANBUL"),
    ("http://kelvin.test/\u212aelvin", "\u212a kelvin K", None, "\u212a"),
    ("http://emoji.test/🙂", "smile 🙂🙂 test", "pupil.🙂", "🙂"),
    ("http://japan.test/検索", "日本語の検索", "山田", "日本"),
    ("http://combining.test/e\u0301", "cafe\u0301 café", None, "e\u0301"),
    ("http://greek.test/ΣΊΣΥΦΟΣ", "σίσυφος ΣΊΣΥΦΟΣ", "ǅemal", "Σ"),
    (None, "ab", None, ""),
    ("http://a.test/", None, "a", "x"),
    ("http://long.test/" + "abc" * 400, "zz " * 50, "long.user", "long"),
]
FIXED_TERMS = [
    "%", "_", "%_", "100%", "_off", "100%_OFF", "'", '"', "''", '"free', "free speech",
    "\\", "\\%", "C:\\dir", "o'brien", "O'BRIEN", "it's", "é", "É", "café", "CAFÉ", "déjà",
    "DÉJÀ", "straße", "STRASSE", "ss", "ß", "İ", "ı", "istanbul", "İstanbul", "k", "K",
    "\u212a", "kelvin", "\u212aelvin", "🙂", "🙂🙂", "日本", "検索", "e\u0301", "cafe\u0301",
    "σ", "Σ", "σίσυφος", "ΣΊΣΥΦΟΣ", "ǅ", "a", "ab", "zz", "x", "ht", "http", "https://",
    "%2F", "&", "&amp;", "ct=ga", "usg=", "url=https", "slack", "SLACK", "gcse", "GCSE",
    "bitesize", "quizlet", "year 7", "ks3", "nothing.invalid", "abcabc", "bcabca", ".test/",
    "pupil", "a.test", "listed", "reason", "  padded term  ", "AFQjCN", "pythagoras theorem",
    '"""', "'''", 'a"b"c', "AND", "and or not", "a*b", "sla*", "(x)", "url:slack", "^sla",
    "NEAR(a b)", "-slack", "+slack",  # FTS5 query syntax, which must stay literal
]  # fmt: skip


def _feed_urls() -> list[str]:
    feed = (DATA / "feeds" / "google-alerts-slack-2019.xml").read_text(encoding="utf-8")
    wrapped = [html.unescape(u) for u in re.findall(r'<link href="([^"]+url=[^"]+)"', feed)]
    return wrapped + [re.sub(r".*?&url=([^&]+)&.*", r"\1", u) for u in wrapped]


def _searches() -> list[str]:
    lines = (DATA / "corpus" / "school-searches.txt").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line and not line.startswith("#")][::4]


@pytest.fixture
def dataset(engine: Engine, make_event: Any) -> list[Any]:
    base = make_event().when
    events = []
    urls, searches = _feed_urls(), _searches()
    for i in range(max(len(urls), len(searches))):
        url = urls[i % len(urls)]
        host = re.sub(r"^https?://([^/]+).*", r"\1", url)
        events.append(make_event(
            url=url, host=host, rule=f"domain:{host}#{i}", user=f"pupil.{i % 17:02d}",
            search_terms=searches[i % len(searches)], kind="search" if i % 3 else "url",
            category=[None, "extremism", "hate", "weapons"][i % 4],
            when=base + timedelta(minutes=i),
        ))  # fmt: skip
    for i, (url, terms, user, reason) in enumerate(AWKWARD):
        events.append(make_event(
            url=url, host=url and url.split("/")[2], rule=f"awkward:{i}", user=user,
            search_terms=terms, reason=reason, when=base + timedelta(hours=5, minutes=i),
        ))  # fmt: skip
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in events], timedelta(minutes=10))
    return events


def _substrings(events: list[Any], count: int) -> list[str]:
    """Pieces of what is stored, 1 to 12 characters, some with their case changed."""
    rng = random.Random(17)
    values = [v for e in events for v in (e.url, e.search_terms, e.user, e.reason, e.rule) if v]
    terms = []
    for _ in range(count):
        value = rng.choice(values)
        start = rng.randrange(len(value))
        piece = value[start : start + rng.randint(1, 12)]
        terms.append(piece.upper() if rng.random() < 0.3 else piece)
    return terms


@pytest.fixture
def forced_index(session: Session, backend: str) -> Iterator[Session]:
    """On PostgreSQL, a small table would be read whole: make the planner use the index."""
    if backend == "postgresql":
        session.execute(text("SET LOCAL enable_seqscan = off"))
    yield session


def _page_ids(session: Session, flt: EventFilter, limit: int) -> list[str]:
    ids, cursor = [], None
    while True:
        page = list_events(session, flt, limit=limit, after=cursor)
        ids += [e.event_id for e in page.events]
        if page.next_cursor is None:
            return ids
        cursor = page.next_cursor


def _by_scan(call: Any, *args: Any, **kwargs: Any) -> Any:
    with mock.patch.object(queries, "text_matches", textsearch.ilike_matches):
        return call(*args, **kwargs)


def test_the_index_finds_what_the_scan_found(
    forced_index: Session, dataset: list[Any], backend: str
) -> None:
    session = forced_index
    terms = FIXED_TERMS + _substrings(dataset, 150) + (["a\x00b"] if backend == "sqlite" else [])
    found_some = 0
    for term in terms:
        flt = EventFilter(text=term)
        expected = _by_scan(_page_ids, session, flt, 500)
        assert _page_ids(session, flt, 500) == expected, term
        assert count_events(session, flt) == len(expected), term
        found_some += bool(expected)
    assert found_some > len(terms) // 2  # the substrings do find things


def test_small_pages_come_out_the_same_whichever_way_sqlite_reads_them(
    forced_index: Session, dataset: list[Any]
) -> None:
    # At 5 a page, a term held by many rows walks the sort order and a rarer one reads the
    # index's rows: both must page exactly like the scan.
    ways = []
    real = textsearch._rows_or_walk

    def spy(*args: Any) -> Any:
        ways.append(type(result := real(*args)).__name__)
        return result

    with mock.patch.object(textsearch, "_rows_or_walk", spy):
        for term in ("http", "slack", "year", "quizlet", "o'brien", "CAFÉ", "%_", "ab"):
            flt = EventFilter(text=term)
            assert _page_ids(forced_index, flt, 5) == _by_scan(_page_ids, forced_index, flt, 5)
    if forced_index.get_bind().dialect.name == "sqlite":
        assert "True_" in ways and "BinaryExpression" in ways, ways  # both ways were taken


def test_a_reference_still_finds_its_event(session: Session, dataset: list[Any]) -> None:
    event = dataset[3]
    assert [e.event_id for e in list_events(session, EventFilter(text=event.id)).events] == [
        event.id
    ]


@pytest.mark.parametrize("backend", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_postgresql_reads_the_trigram_index(forced_index: Session) -> None:
    query = select(Event.pk).where(*EventFilter(text="slack").conditions())
    compiled = query.compile(forced_index.get_bind(), compile_kwargs={"literal_binds": True})
    plan = "\n".join(forced_index.execute(text(f"EXPLAIN {compiled}")).scalars())
    assert textsearch.PG_INDEX in plan, plan


def _fts_in_step(session: Session) -> None:
    # FTS5 compares its index with the events table itself (external content).
    session.execute(
        text("INSERT INTO events_text (events_text, rank) VALUES ('integrity-check', 1)")
    )


@pytest.mark.parametrize("backend", ["sqlite"])  # PostgreSQL keeps its own index in step
def test_the_sqlite_index_follows_inserts_updates_and_deletes(
    session: Session, dataset: list[Any]
) -> None:
    _fts_in_step(session)
    event = session.scalars(select(Event).where(Event.event_id == dataset[0].id)).one()
    event.user = "renamed.pupil"
    event.repeat_count += 1  # an update of an unsearched column leaves the index alone
    session.commit()
    _fts_in_step(session)
    assert [e.event_id for e in list_events(session, EventFilter(text="RENAMED")).events] == [
        dataset[0].id
    ]
    session.delete(event)
    session.commit()
    _fts_in_step(session)
    assert list_events(session, EventFilter(text="renamed")).events == []


# -- migration 0010


def _text_index_objects(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            found = conn.scalar(
                text("SELECT to_regclass(:name)::text"), {"name": textsearch.PG_INDEX}
            )
            targets = text(
                "SELECT DISTINCT attstattarget FROM pg_attribute WHERE attnum > 0 AND"
                " attrelid = 'events'::regclass AND attname IN ('url', 'host', 'user_name')"
            )
            statistics = [f"statistics {t}" for t in conn.scalars(targets) if t not in (-1, None)]
            return ([found] if found else []) + statistics
        names = "SELECT name FROM sqlite_master WHERE name LIKE 'events\\_text%' ESCAPE '\\'"
        return sorted(conn.scalars(text(names)))


def _search(engine: Engine, term: str) -> list[str]:
    with make_sessionmaker(engine)() as session:
        return [e.event_id for e in list_events(session, EventFilter(text=term)).events]


def test_upgrade_indexes_what_is_stored_and_downgrade_removes_the_index(empty_url: str) -> None:
    assert upgrade(empty_url, "0009") == "0009"
    engine = make_engine(empty_url)
    with engine.begin() as conn:
        for i, url in enumerate(["http://old.test/Straße", "http://old.test/100%_off"]):
            conn.execute(
                text(
                    "INSERT INTO events (event_id, source, kind, action, severity, reason, url,"
                    " first_seen, last_seen, repeat_count, fold_key, status) VALUES (:id,"
                    " 'gateway', 'url', 'block', 3, '', :url, :t, :t, 1, :id, 'new')"
                ),
                {"id": f"old{i}", "url": url, "t": "2025-01-01 00:00:00"},
            )
    upgrade(empty_url)
    assert _text_index_objects(engine)
    assert _search(engine, "STRAßE") == ["old0"]
    assert _search(engine, "0%_o") == ["old1"]
    assert _search(engine, "old.test") == ["old1", "old0"]

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0009")
    assert current_revision(engine) == "0009"
    assert _text_index_objects(engine) == []
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM events")) == 2
    assert upgrade(empty_url) == head_revision()  # and up again
    assert _search(engine, "straße") == ["old0"]
    engine.dispose()


@pytest.mark.postgres
def test_without_the_right_to_create_pg_trgm_the_upgrade_says_what_to_run(
    pg_base_url: URL,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    database, role = f"prevent_monitor_no_trgm_{suffix}", f"prevent_monitor_no_trgm_{suffix}"
    admin = create_engine(pg_base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE ROLE "{role}" LOGIN')
        conn.exec_driver_sql(f'CREATE DATABASE "{database}"')
    owner = create_engine(pg_base_url.set(database=database), isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:  # a schema of its own, but no CREATE on the database
        conn.exec_driver_sql(f'CREATE SCHEMA store AUTHORIZATION "{role}"')
    owner.dispose()
    url = pg_base_url.set(database=database, username=role, password=None)
    url = url.update_query_dict({"options": "-csearch_path=store"})
    try:
        with pytest.raises(RuntimeError) as raised:
            upgrade(url.render_as_string(hide_password=False))
        message = str(raised.value)
        assert "pg_trgm" in message and "permission denied" in message
        assert f"in database {database}: CREATE EXTENSION IF NOT EXISTS pg_trgm" in message
        assert "prevent-monitor db upgrade" in message
        engine = make_engine(url)
        assert current_revision(engine) is None  # the whole upgrade rolled back
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.exec_driver_sql(f'DROP ROLE IF EXISTS "{role}"')
        admin.dispose()
