"""`monitor.store.runner.Store`: reads in a pool, writes on one thread, beside an EventWriter."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from monitor.store.accounts import add_user, list_users
from monitor.store.database import make_engine
from monitor.store.runner import Store
from monitor.store.writer import EventWriter


def _thread(_session: Session) -> str:
    return threading.current_thread().name


async def test_writes_run_on_one_thread_and_reads_see_them(engine: Engine) -> None:
    store = Store(engine)
    try:
        names = await asyncio.gather(*(store.write(_thread) for _ in range(20)))
        assert len(set(names)) == 1
        await store.write(add_user, "dsl.jones", "prevent_lead", actor="test")
        users = await store.read(list_users)
        assert [u.username for u in users] == ["dsl.jones"]
        assert await store.read(_thread) not in names
    finally:
        store.close()


async def test_a_failed_write_raises_and_keeps_nothing(engine: Engine) -> None:
    store = Store(engine)

    def half(session: Session) -> None:
        add_user(session, "it.smith", "it_staff", actor="test")
        raise ValueError("changed my mind")

    try:
        with pytest.raises(ValueError, match="changed my mind"):
            await store.write(half)
        assert await store.read(list_users) == []
    finally:
        store.close()


async def test_beside_an_event_writer_writes_share_its_thread(
    engine: Engine, store_url: str, tmp_path: Path, make_event: Any
) -> None:
    writer = EventWriter(store_url, spool_dir=str(tmp_path / "spool"), engine=engine)
    writer.start()
    store = Store(engine, writer=writer)
    try:
        writer.submit(make_event())
        assert await store.write(_thread) == "event-writer"
        assert writer.flush(5)
    finally:
        writer.close()
        store.close()
    with pytest.raises(RuntimeError, match="not running"):
        await store.write(_thread)


def test_a_core_statement_on_a_schools_rows_is_refused_under_a_school_scope(tmp_path: Path) -> None:
    """The scope applies to ORM statements; one it cannot reach is refused, never run
    unfiltered (monitor.store.scope)."""
    from sqlalchemy import select as core_select

    from monitor.store import scope
    from monitor.store.migrate import upgrade
    from monitor.store.models import Event

    url = f"sqlite:///{tmp_path / 'scoped.sqlite'}"
    upgrade(url)
    store = Store(make_engine(url))
    table = Event.__table__
    with scope.only_schools({"north"}), pytest.raises(scope.ScopeError):
        store.read_sync(lambda session: session.execute(core_select(table.c.pk)).all())
    assert store.read_sync(lambda session: session.execute(core_select(table.c.pk)).all()) == []
    store.close()


def test_raw_sql_is_refused_under_a_school_scope(tmp_path: Path) -> None:
    from sqlalchemy import text

    from monitor.store import scope
    from monitor.store.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'raw.sqlite'}"
    upgrade(url)
    store = Store(make_engine(url))
    with scope.only_schools({"north"}), pytest.raises(scope.ScopeError):
        store.read_sync(lambda session: session.execute(text("SELECT pk FROM events")).all())
    store.close()
