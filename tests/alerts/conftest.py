"""Real parts for the watcher's tests: feed servers on 127.0.0.2 and 127.0.0.1 (aiohttp), an
SMTP server (aiosmtpd), a migrated SQLite store in a temporary file, the test policy."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from alerts.digest import build_digest, digest_period, render_digest
from alerts.mail import Mailer
from alerts.settings import DigestSettings, WatcherSettings
from filters.policy import Policy
from monitor.store.database import make_engine
from monitor.store.migrate import upgrade
from monitor.store.runner import Store
from tests.alerts.feeds import POLICY, SCHOOL
from tests.localnet import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    """An aiohttp server whose routes the test sets, recording every request it gets."""

    host: str
    routes: dict[str, Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        content_type = headers.pop("content_type", "application/xml; charset=utf-8")

        async def handler(request: web.Request) -> web.Response:
            return web.Response(
                body=body, status=status, headers={"Content-Type": content_type, **headers}
            )

        self.routes[path] = handler
        return self.url(path)

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(Seen(request.path_qs, dict(request.headers)))
        handler = self.routes.get(request.path)
        if handler is None:
            return web.Response(status=404, text="not found")
        return await handler(request)


@pytest.fixture
async def feed_server() -> AsyncIterator[FeedServer]:
    async with _server("127.0.0.2") as server:
        yield server


@pytest.fixture
async def internal_server() -> AsyncIterator[FeedServer]:
    """Stands for the school's own network: the watcher must never reach it."""
    async with _server("127.0.0.1") as server:
        yield server


class _server:
    def __init__(self, host: str) -> None:
        self.server = FeedServer(host)
        self.runner: web.AppRunner | None = None

    async def __aenter__(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.server._dispatch)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.server.host, 0)
        await site.start()
        self.server.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.server

    async def __aexit__(self, *exc: Any) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> Iterator[Store]:
    store = Store(engine)
    yield store
    store.close()


@pytest.fixture(scope="session")
def policy() -> Policy:
    return Policy.load(POLICY)


def watcher_settings(**overrides: Any) -> WatcherSettings:
    values: dict[str, Any] = {
        "brand_terms": [SCHOOL, "St Aidans Exampleton"],
        "exclude_terms": ["Darlingford"],
        "allowed_networks": ["127.0.0.2/32"],  # the test feed server, and nothing else private
        "interval_minutes": 60.0,
        "jitter_fraction": 0.0,
        "connect_timeout": 2.0,
        "read_timeout": 2.0,
        "total_timeout": 5.0,
        "max_body_bytes": 1_000_000,
        "parse_workers": 0,  # in-process parsing keeps tests quick (one test uses the pool)
    }
    values.update(overrides)
    return WatcherSettings(**values)


# -- mail -------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 OK"


@dataclass
class MailServer:
    inbox: Inbox
    port: int


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield MailServer(inbox, controller.port)
    finally:
        controller.stop()


def digest_settings(mail: MailServer | None = None, **overrides: Any) -> DigestSettings:
    values: dict[str, Any] = {
        "recipients": ["comms@school.example", "head@school.example"],
        "prevent_lead": "dsl@school.example",
        "sender": "prevent-monitor@school.example",
        "smtp_host": "127.0.0.1",
        "smtp_port": mail.port if mail else 1,
        "smtp_starttls": False,
        "smtp_timeout": 5.0,
    }
    values.update(overrides)
    return DigestSettings(**values)


def mailer(mail: MailServer, **overrides: Any) -> Mailer:
    return Mailer(digest_settings(mail, **overrides))


async def digest_text(store: Store) -> tuple[str, str]:
    """The digest as it would go out now: (text, html)."""
    from datetime import UTC, datetime, timedelta

    settings = digest_settings()
    period = digest_period(datetime.now(UTC) + timedelta(days=1), settings)
    digest = await build_digest(store, settings, period, SCHOOL)
    return render_digest(digest)


def parts(message: Message) -> tuple[str, str]:
    text = html = ""
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            text = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")  # type: ignore[union-attr]
        elif part.get_content_type() == "text/html":
            html = part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")  # type: ignore[union-attr]
    return text, html


async def settle() -> None:
    await asyncio.sleep(0)
