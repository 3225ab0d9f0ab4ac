"""Instant alerts to the Prevent lead: real SQLite store, real SMTP server (aiosmtpd), a real
local webhook receiver. The clock is the alerter's own (injected), so windows can be walked
through without waiting ten minutes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import Engine, func, select

from alerts.instant import InstantAlerts
from alerts.settings import AlertingSettings
from monitor.events import FlaggedEvent
from monitor.store.folding import store_rows
from monitor.store.models import Event, SafeguardingAlert
from monitor.store.rows import event_row
from monitor.store.runner import Store
from tests.alerts.conftest import MailServer, mailer, parts
from tests.localnet import free_port

T0 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
CONSOLE = "https://safeguarding.school.example"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def event(**fields: Any) -> FlaggedEvent:
    values: dict[str, Any] = {
        "source": "gateway", "kind": "url", "action": "block", "category": "extremism",
        "severity": 3, "rule": "domain:extremist.test", "url": "http://www.extremist.test/a",
        "host": "www.extremist.test", "reason": "listed", "user": "pupil.alex",
        "device": "lab-pc-01", "client_ip": "10.0.0.21", "group": "year10", "when": T0,
    }  # fmt: skip
    values.update(fields)
    return FlaggedEvent(**values)


def put(engine: Engine, *events: FlaggedEvent) -> None:
    with engine.begin() as conn:
        store_rows(conn, [event_row(e) for e in events], timedelta(minutes=10))


def alerter(
    store: Store, smtp: MailServer | None, clock: Clock, **overrides: Any
) -> InstantAlerts:
    settings = AlertingSettings(**{"recipients": ["dsl@school.example"], **overrides})
    mail = mailer(smtp) if smtp else mailer(MailServer(None, free_port()))  # type: ignore[arg-type]
    return InstantAlerts(
        settings, mail, store.write, school="St Aidan's (fictional)", console_url=CONSOLE,
        clock=clock,
    )


async def test_a_serious_event_reaches_the_lead_within_a_minute_without_a_name(
    engine: Engine, store: Store, smtp: MailServer
) -> None:
    clock = Clock()
    alerts = alerter(store, smtp, clock)
    put(engine, event(when=T0))
    assert await alerts.tick() == 0  # gathering the burst
    clock.advance(seconds=21)
    assert await alerts.tick() == 1
    assert len(smtp.inbox.messages) == 1
    message = smtp.inbox.messages[0]
    assert message["To"] == "dsl@school.example"
    subject = str(message["Subject"]).strip()
    assert subject == "[Prevent] HIGH: an event needs review at St Aidan's (fictional)"
    text, html = parts(message)
    with engine.connect() as conn:
        reference = conn.scalar(select(Event.event_id))
    assert f"{CONSOLE}/events/{reference}" in text and f"{CONSOLE}/events/{reference}" in html
    assert "www.extremist.test" in text
    for private in ("pupil.alex", "lab-pc-01", "10.0.0.21"):
        assert private not in subject and private not in text and private not in html
    assert message["Message-ID"].startswith("<safeguarding-alert-")
    # Sent once: later ticks send nothing more.
    clock.advance(minutes=30)
    assert await alerts.tick() == 0
    assert len(smtp.inbox.messages) == 1


async def test_a_burst_is_one_alert_per_pupil_per_window_with_a_count(
    engine: Engine, store: Store, smtp: MailServer
) -> None:
    clock = Clock()
    alerts = alerter(store, smtp, clock)
    put(engine, *(event(url=f"http://www.extremist.test/{i}", when=T0) for i in range(5)))
    put(engine, event(user="pupil.sam", url="http://www.extremist.test/s", when=T0))
    clock.advance(seconds=5)
    await alerts.tick()
    put(engine, event(url="http://other.extremist.test/x", host="other.extremist.test",
                      when=clock.now))  # fmt: skip
    clock.advance(seconds=20)
    assert await alerts.tick() == 2  # one for each pupil
    subjects = sorted(str(m["Subject"]).strip() for m in smtp.inbox.messages)
    assert subjects == [
        # The five visits to one site folded into one event with a count; one more site.
        "[Prevent] HIGH: 2 events (6 requests) need review at St Aidan's (fictional)",
        "[Prevent] HIGH: an event needs review at St Aidan's (fictional)",
    ]
    # More from the same pupil inside the window, on other sites (more visits to the same site
    # fold into the alerted event's count): one follow-up when the window closes.
    for minute in (2, 4, 6):
        clock.advance(minutes=2)
        host = f"h{minute}.extremist.test"
        put(engine, event(url=f"http://{host}/", host=host, when=clock.now))
        assert await alerts.tick() == 0
    clock.now = T0 + timedelta(minutes=10, seconds=1)
    assert await alerts.tick() == 1
    assert len(smtp.inbox.messages) == 3
    follow_up = str(smtp.inbox.messages[-1]["Subject"]).strip()
    assert follow_up.startswith("[Prevent] HIGH: 3 events need")
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).where(Event.alert_id.is_(None))) == 0


async def test_what_is_not_serious_or_not_the_gateways_is_not_alerted(
    engine: Engine, store: Store, smtp: MailServer
) -> None:
    clock = Clock()
    alerts = alerter(store, smtp, clock)
    put(engine, event(severity=2, action="flag"), event(source="brand-watch", url="http://n.test/"))
    clock.advance(minutes=1)
    assert await alerts.tick() == 0
    assert smtp.inbox.messages == []
    # A critical threshold leaves high events alone too.
    critical = alerter(store, smtp, clock, min_severity="critical")
    put(engine, event(url="http://www.extremist.test/high"))
    clock.advance(minutes=1)
    assert await critical.tick() == 0


async def test_a_failed_send_is_retried_shown_and_never_sent_twice(
    engine: Engine, store: Store, smtp: MailServer
) -> None:
    clock = Clock()
    down = alerter(store, None, clock)  # a port nobody listens on
    put(engine, event())
    clock.advance(seconds=30)
    assert await down.tick() == 0
    assert down.health.failing == 1 and "mail:" in (down.health.last_error or "")
    report = down.health_report()
    assert report["failing"] == 1 and report["waiting"] == 0  # waiting for its retry time
    # The mail server is back; the retry goes after its wait, once.
    up = alerter(store, smtp, clock)
    assert await up.tick() == 0  # not yet: the retry waits 30 s
    clock.advance(seconds=31)
    assert await up.tick() == 1
    clock.advance(minutes=5)
    assert await up.tick() == 0
    assert len(smtp.inbox.messages) == 1
    assert up.health.failing == 0
    with engine.connect() as conn:
        row = conn.execute(select(SafeguardingAlert.attempts, SafeguardingAlert.mail_state)).one()
    assert tuple(row) == (2, "sent")


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.status = 200
        self.url = ""


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    got = Receiver()

    async def hook(request: web.Request) -> web.Response:
        got.bodies.append(json.loads(await request.text()))
        return web.Response(status=got.status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    got.url = f"http://127.0.0.1:{port}/hook"
    yield got
    await runner.cleanup()


async def test_the_webhook_gets_the_alert_once_and_is_retried_alone(
    engine: Engine, store: Store, smtp: MailServer, receiver: Receiver
) -> None:
    clock = Clock()
    alerts = alerter(store, smtp, clock, webhook_url=receiver.url, webhook_allow_private=True)
    receiver.status = 500
    put(engine, event())
    clock.advance(seconds=30)
    assert await alerts.tick() == 0
    assert len(smtp.inbox.messages) == 1  # the mail went; the webhook failed
    assert "webhook: HTTP 500" in (alerts.health.last_error or "")
    receiver.status = 200
    clock.advance(minutes=1)
    assert await alerts.tick() == 1
    assert len(smtp.inbox.messages) == 1  # the mail is not sent again
    assert len(receiver.bodies) == 2
    body = receiver.bodies[-1]
    assert body["text"].startswith("[Prevent] HIGH: an event needs review")
    assert "pupil.alex" not in json.dumps(body) and f"{CONSOLE}/events/" in body["text"]


async def test_the_webhook_may_not_reach_a_private_address_unless_allowed(
    engine: Engine, store: Store, smtp: MailServer, receiver: Receiver
) -> None:
    clock = Clock()
    alerts = alerter(store, smtp, clock, webhook_url=receiver.url)
    put(engine, event())
    clock.advance(seconds=30)
    assert await alerts.tick() == 0
    assert receiver.bodies == []
    assert "loopback" in (alerts.health.last_error or "")


@pytest.mark.parametrize("shape", ["teams", "json"])
async def test_webhook_shapes(
    engine: Engine, store: Store, smtp: MailServer, receiver: Receiver, shape: str
) -> None:
    clock = Clock()
    alerts = alerter(
        store, smtp, clock, webhook_url=receiver.url, webhook_allow_private=True,
        webhook_format=shape,
    )
    put(engine, event())
    clock.advance(seconds=30)
    assert await alerts.tick() == 1
    body = receiver.bodies[0]
    if shape == "teams":
        assert body["@type"] == "MessageCard" and body["summary"].startswith("[Prevent]")
    else:
        assert body["severity"] == "high" and body["events"][0]["host"] == "www.extremist.test"
        assert body["events"][0]["link"].startswith(f"{CONSOLE}/events/")


def test_settings_are_checked() -> None:
    bad = AlertingSettings(gather_seconds=90, poll_seconds=0, recipients=["nobody"])
    problems = bad.check()
    assert any("alerting.gather_seconds" in p for p in problems)
    assert any("alerting.poll_seconds" in p for p in problems)
    assert any("alerting.recipients[0]" in p for p in problems)
    assert AlertingSettings().check() == []
