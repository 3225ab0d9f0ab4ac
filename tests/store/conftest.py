"""Fixtures for the store tests: the same suite against SQLite and a real PostgreSQL server.

PostgreSQL comes from $PREVENT_MONITOR_TEST_PG_URL (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/test); without it the PostgreSQL half skips. The
tests work in their own database, `prevent_monitor_store_test` (created if allowed, else the
given database is used), and each test gets a fresh schema that is dropped afterwards, so runs
by other people on the same server do not interfere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session

from monitor.events import FlaggedEvent
from monitor.store.database import make_engine, make_sessionmaker, normalise_url
from monitor.store.migrate import upgrade

PG_ENV = "PREVENT_MONITOR_TEST_PG_URL"
PG_DATABASE = "prevent_monitor_store_test"


@pytest.fixture(scope="session")
def pg_base_url() -> URL:
    raw = os.environ.get(PG_ENV)
    if not raw:
        pytest.skip(
            f"{PG_ENV} is unset: set it to e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test "
            "to run the store tests against PostgreSQL"
        )
    url = normalise_url(raw)
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.exec_driver_sql(
                "SELECT 1 FROM pg_database WHERE datname = %(name)s", {"name": PG_DATABASE}
            ).scalar()
            if not exists:
                conn.exec_driver_sql(f'CREATE DATABASE "{PG_DATABASE}"')
        return url.set(database=PG_DATABASE)
    except Exception:  # no CREATE DATABASE right: work in schemas of the given database
        return url
    finally:
        admin.dispose()


def pg_schema_url(base: URL, schema: str) -> URL:
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    engine.dispose()
    return base.update_query_dict({"options": f"-csearch_path={schema}"})


def drop_pg_schema(base: URL, schema: str) -> None:
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database with no tables yet."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite'}"
        return
    base = request.getfixturevalue("pg_base_url")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = pg_schema_url(base, schema)
    yield url.render_as_string(hide_password=False)
    drop_pg_schema(base, schema)


@pytest.fixture
def pg_store_url(pg_base_url: URL) -> Iterator[str]:
    """A PostgreSQL schema at the newest revision (for PostgreSQL-only tests)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    url = pg_schema_url(pg_base_url, schema).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    drop_pg_schema(pg_base_url, schema)


@pytest.fixture
def store_url(empty_url: str) -> str:
    """A database at the newest schema."""
    upgrade(empty_url)
    return empty_url


@pytest.fixture
def engine(store_url: str) -> Iterator[Engine]:
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def fictional_event(**fields: Any) -> FlaggedEvent:
    """A fictional flagged event; override any field."""
    values: dict[str, Any] = {
        "source": "gateway",
        "kind": "url",
        "action": "block",
        "category": "extremism",
        "severity": 3,
        "rule": "domain:bad.test",
        "url": "http://www.bad.test/page",
        "host": "www.bad.test",
        "reason": "listed in extremism.txt",
        "rule_source": "blocklists/extremism.txt:12",
        "user": "pupil.a",
        "device": "lab-pc-01",
        "client_ip": "10.0.0.21",
        "group": "year10",
        "policy_version": "test-1",
        "when": T0,
    }
    values.update(fields)
    return FlaggedEvent(**values)


@pytest.fixture(name="make_event")
def make_event_fixture() -> Any:
    return fictional_event
