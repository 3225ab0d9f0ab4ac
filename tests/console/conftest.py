"""Fixtures for the console tests: a real SQLite store (made by the store's migrations), a copy
of the shipped policy to approve unblock requests into, one account per role, and a real
aiohttp server on 127.0.0.1 driven by aiohttp's test client."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session, sessionmaker

from monitor.console.app import create_app
from monitor.console.settings import ConsoleSettings
from monitor.events import FlaggedEvent
from monitor.store.accounts import add_user
from monitor.store.database import make_engine, make_sessionmaker
from monitor.store.folding import store_rows
from monitor.store.migrate import upgrade
from monitor.store.models import BrandMention, Event, UnblockRequest
from monitor.store.rows import event_row

REPO = Path(__file__).resolve().parents[2]
ROLES = ("prevent_lead", "it_staff", "comms")
NASTY_URL = 'https://evil.test/"><img src=x onerror=alert(1)><script>alert(2)</script>'
NASTY_TERMS = '<script>alert(3)</script>"><img src=x onerror=alert(4)>'


@dataclass
class Store:
    url: str
    sessions: sessionmaker[Session]
    passwords: dict[str, str]
    policy: Path
    data_dir: Path

    def add_event(self, **fields: Any) -> Event:
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "event_id": uuid.uuid4().hex,
            "source": "gateway",
            "kind": "url",
            "action": "block",
            "category": "extremism",
            "severity": 3,
            "rule": "bad.test",
            "rule_source": "local/block.yaml:3",
            "url": "https://bad.test/page",
            "host": "bad.test",
            "reason": "listed in local/block.yaml",
            "user": "pupil.amy",
            "device": "laptop-17",
            "client_ip": "10.1.2.3",
            "group": "pupils",
            "policy_version": "v1",
            "first_seen": now - timedelta(minutes=5),
            "last_seen": now - timedelta(minutes=5),
            "repeat_count": 1,
            "fold_key": uuid.uuid4().hex[:40],
            "status": "new",
        }
        values.update(fields)
        with self.sessions() as session:
            event = Event(**values)
            session.add(event)
            session.commit()
            return event

    def store_visits(self, *visits: FlaggedEvent, fold_minutes: int = 10) -> None:
        """Store visits as the gateway's writer does: repeats fold into one event, each
        visit's reference kept as a receipt, its term and path counted."""
        engine = make_engine(self.url)
        with engine.begin() as connection:
            store_rows(connection, [event_row(v) for v in visits], timedelta(minutes=fold_minutes))
        engine.dispose()


def visit(minutes_ago: float, **fields: Any) -> FlaggedEvent:
    """One fictional gateway visit `minutes_ago` (a search on a fictional engine by default)."""
    values: dict[str, Any] = {
        "source": "gateway", "kind": "search", "action": "flag", "category": "proscribed",
        "severity": 2, "rule": "search:zorblax front", "rule_source": "lists/terms.yaml:4",
        "url": "https://search.example/search?q=zorblax", "host": "search.example",
        "reason": "search for a proscribed organisation", "user": "pupil.amy",
        "device": "lab-pc-01", "client_ip": "10.0.0.21", "group": "year10",
        "policy_version": "v1", "when": datetime.now(UTC) - timedelta(minutes=minutes_ago),
    }  # fmt: skip
    values.update(fields)
    return FlaggedEvent(**values)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    passwords = {}
    with sessions() as session:
        for role in ROLES:
            passwords[role] = add_user(
                session, role.replace("_", "."), role, actor="test", change_due=False
            )
        session.commit()
    policy_dir = tmp_path / "blocklists"
    shutil.copytree(REPO / "blocklists", policy_dir)
    yield Store(url, sessions, passwords, policy_dir / "policy.yaml", tmp_path / "data")
    engine.dispose()


def settings(**changes: Any) -> ConsoleSettings:
    base = ConsoleSettings(cookie_secure=False, session_key="k" * 48)
    for key, value in changes.items():
        setattr(base, key, value)
    return base


@pytest.fixture
async def client(store: Store) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings(), store.url, store.policy, store.data_dir)
    async with TestClient(TestServer(app, host="127.0.0.1")) as test_client:
        yield test_client


def username(role: str) -> str:
    return role.replace("_", ".")


async def form_token(client: TestClient[Any, Any], path: str) -> str:
    response = await client.get(path)
    text = await response.text()
    found = re.search(r'name="form_token" value="([^"]+)"', text)
    assert found, text[:500]
    return found.group(1)


async def sign_in(client: TestClient[Any, Any], store: Store, role: str) -> str:
    """Sign in as `role`; return the session's CSRF token."""
    token = await form_token(client, "/login")
    response = await client.post(
        "/login",
        data={"username": username(role), "password": store.passwords[role], "form_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    return await csrf_of(client)


async def csrf_of(client: TestClient[Any, Any]) -> str:
    response = await client.get("/login", allow_redirects=True)
    text = await response.text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:500]
    return found.group(1)


@pytest.fixture
def login(store: Store) -> Any:
    """`await login(client, role)`: sign in as one of the role accounts; returns the CSRF token."""

    async def _login(client: TestClient[Any, Any], role: str) -> str:
        return await sign_in(client, store, role)

    return _login


@pytest.fixture
def token_for() -> Any:
    """`await token_for(client, path)`: the signed form token of a public form."""
    return form_token


@pytest.fixture
def new_request(store: Store) -> Any:
    """`new_request(**fields) -> id`: an open unblock request."""

    def _add(**fields: Any) -> int:
        values: dict[str, Any] = {
            "requested_at": datetime.now(UTC),
            "url": "https://research.example/unit",
            "host": "research.example",
            "reason": "Year 12 history homework",
            "status": "open",
        }
        values.update(fields)
        with store.sessions() as session:
            item = UnblockRequest(**values)
            session.add(item)
            session.commit()
            return item.id

    return _add


@pytest.fixture
def new_mention(store: Store) -> Any:
    """`new_mention(**fields) -> id`: a brand mention the watcher found (fictional)."""

    def _add(**fields: Any) -> int:
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "mention_key": uuid.uuid4().hex, "feed": "https://alerts.example/feed",
            "feed_label": "Alerts", "url": "https://news.example/st-aidans",
            "title": "St Aidan's Academy in the news", "first_seen": now, "last_seen": now,
            "severity": 2, "category": "extremism", "state": "new",
        }  # fmt: skip
        values.update(fields)
        with store.sessions() as session:
            item = BrandMention(**values)
            session.add(item)
            session.commit()
            return item.id

    return _add
