"""Health for IT (`/health`) through the real app: status files written by the real reloader,
gateway state and event writers; a refused list change with its file:line; a silent scale-out
instance; a stopped watcher; a spool waiting for an unreachable database; failing feeds; a
database that does not answer; hostile status files; teachers and communications refused."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from filters.live import LivePolicy
from monitor.events import FlaggedEvent
from monitor.gateway.state import GatewayState
from monitor.policyreload import PolicyReloader
from monitor.store.accounts import add_user
from monitor.store.models import FeedState
from monitor.store.writer import EventWriter


def event(n: int) -> FlaggedEvent:
    return FlaggedEvent(
        source="gateway", kind="url", action="block", category="extremism", severity=3,
        rule="domain:extremist.example", url=f"http://extremist.example/{n}",
        host=f"h{n}.extremist.example", user="pupil.heron", policy_version="v1",
    )  # fmt: skip


def main(page: str) -> str:
    return page.split("<main>", 1)[1]


@pytest.fixture
def gateway(store: Any) -> Any:
    """A gateway's state with a real event writer on the console's store, and its reloader
    writing the status file where the console looks for it."""
    store.data_dir.mkdir(parents=True, exist_ok=True)
    state = GatewayState()
    writer = EventWriter(store.url, spool_dir=str(store.data_dir / "spool"))
    writer.start()
    state.sink = writer
    state.live = LivePolicy.load(store.policy)
    reloader = PolicyReloader(
        state.live, status_file=str(store.data_dir / "gateway-status.json"),
        status_extra=state.status,
    )  # fmt: skip
    yield reloader, state, writer
    writer.close(10)


async def test_with_no_status_files_the_gateway_is_unknown_and_said_to_be(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    await login(client, "it_staff")
    page = main(await (await client.get("/health")).text())
    assert "Needs attention (1)" in page
    assert "Gateway is unknown: no status file at" in page and "gateway-status.json" in page
    assert '<span class="state state-unknown">unknown</span>' in page  # the watcher too
    assert page.count('<span class="state state-up">up</span>') == 2  # console and database
    assert "No change has been refused since the parts started." in page
    assert "The watcher has not polled any feed yet." in page


async def test_a_running_gateway_its_writer_and_a_refused_change(
    client: TestClient[Any, Any], login: Any, store: Any, gateway: Any
) -> None:
    reloader, state, writer = gateway
    for n in range(4):
        state.submit(event(n % 2))
    assert writer.flush(10)
    reloader.write_status()
    await login(client, "it_staff")
    page = main(await (await client.get("/health")).text())
    assert "Every part is up and nothing needs attention." in page
    assert "last heard 0 s ago" in page and "running (process" in page
    assert f"In force: Gateway</dt><dd><code>{state.live.current.version}</code>" in page
    assert "2 new, 2 folded" in page and "reachable" in page
    assert "pupil.heron" not in page

    # A list change with a problem: refused, the old policy kept, the problem at file:line.
    kept = state.live.current.version
    block = store.policy.parent / "local" / "block.yaml"
    block.write_text("category: extremism\nentries:\n  - {domain: '*'}\n", encoding="utf-8")
    assert reloader.reload_now().failed
    page = main(await (await client.get("/health")).text())
    assert f"Gateway refused the latest policy change (1 problem(s)): policy {kept}" in page
    assert "Last refused change" in page and "Still refused" in page
    assert "yes: fix the files" in page
    assert page.count("local/block.yaml:3") >= 2  # the refusal's problem and the files on disk
    assert f"<dt>Kept in force</dt><dd><code>{state.live.current.version}</code>" in page
    # Fixed: the refusal stays on the page as the last one, no longer current.
    block.write_text("category: extremism\nentries:\n  - extremist.example\n", encoding="utf-8")
    assert reloader.reload_now().changed
    page = main(await (await client.get("/health")).text())
    assert "no: a later change loaded" in page and "local/block.yaml:3" in page
    assert "Every part is up" in page


async def test_a_silent_instance_a_stopped_watcher_and_a_spool(
    client: TestClient[Any, Any], login: Any, store: Any, gateway: Any
) -> None:
    reloader, state, _ = gateway
    broken = EventWriter(
        "sqlite:////nonexistent/folder/x.sqlite", spool_dir=str(store.data_dir / "spool-1")
    )
    broken.start()
    try:
        broken.submit(event(9))
        assert broken.flush(10)
        state.sink = broken  # this gateway's database is away: its events wait in the spool
        reloader.write_status()
    finally:
        broken.close(1)
    old = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    (store.data_dir / "gateway-status-1.json").write_text(
        json.dumps({"written": old, "stopped": None, "pid": 4242, "policy_version": "abc"})
    )
    reloader.stopped()  # not the gateway's own file: a watcher's that shut down
    watcher = store.data_dir / "watcher-status.json"
    (store.data_dir / "gateway-status.json").rename(watcher)
    state.sink = None
    reloader.stop()
    PolicyReloader(
        state.live, status_file=str(store.data_dir / "gateway-status.json"),
        status_extra=lambda: {"writer": {"database_up": False, "spool_records": 1}},
    ).write_status()  # fmt: skip
    await login(client, "prevent_lead")
    page = main(await (await client.get("/health")).text())
    assert "Gateway instance 1 is down: silent for 5 min: it stopped" in page
    assert "last heard 5 min ago" in page
    assert re.search(r"Watcher is down: stopped \d s ago \(shut down cleanly\)", page)
    assert "Gateway&#39;s event writer cannot reach the database" in page
    assert "Gateway: 1 event(s) waiting in the spool" in page
    assert "Watcher: 1 event(s) in its spool" in page  # as the stopped watcher last wrote


async def test_failing_feeds_and_a_database_that_does_not_answer(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    now = datetime.now(UTC)
    with store.sessions() as session:
        session.add_all([
            FeedState(feed_url="https://alerts.example/feed/1", label="Google Alerts",
                      status="error", error_count=3, failing_since=now - timedelta(hours=2),
                      last_error="HTTP 503 from alerts.example", last_status=503,
                      last_polled_at=now),
            FeedState(feed_url="https://news.example/rss", status="ok", error_count=0,
                      last_success_at=now, last_polled_at=now),
        ])  # fmt: skip
        session.commit()
    await login(client, "it_staff")
    page = main(await (await client.get("/health")).text())
    assert "1 of 2 feeds failing" in page and "HTTP 503 from alerts.example" in page
    assert page.index("Google Alerts") < page.index("https://news.example/rss")  # failing first
    dashboard = main(await (await client.get("/dashboard")).text())
    assert "1 of 2 feeds failing" in dashboard and 'href="/health"' in dashboard
    with store.sessions() as session:
        session.execute(text("DROP TABLE feed_state"))
        session.commit()
    response = await client.get("/health")
    page = main(await response.text())
    assert response.status == 200
    assert "Database is down: does not answer: OperationalError" in page


async def test_hostile_status_files_are_shown_as_text(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    store.data_dir.mkdir(parents=True, exist_ok=True)
    now = datetime.now(UTC).isoformat()
    (store.data_dir / "gateway-status.json").write_text(json.dumps({
        "written": now, "pid": "<script>alert(1)</script>", "policy_version": "<b>v</b>" * 200,
        "errors": ["<img src=x onerror=alert(2)>"],
        "last_refused": {"at": "not a time", "problems": ["<script>alert(3)</script>"] * 500},
        "writer": {"spool_records": "lots", "write_rate": "fast", "database_up": "yes"},
    }))  # fmt: skip
    (store.data_dir / "gateway-status-2.json").write_bytes(b"{" + b" " * (2 << 20) + b"}")
    (store.data_dir / "gateway-status-3.json").write_text("not json")
    (store.data_dir / "gateway-status-x.json").write_text("{}")  # not an instance's name
    await login(client, "it_staff")
    page = main(await (await client.get("/health")).text())
    assert "<script>" not in page and "<img" not in page and "<b>v" not in page
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in page and "and 0 more" not in page
    assert page.count("&lt;script&gt;alert(3)") == 50  # bounded
    assert "is too large to be a status file" in page and "is not JSON" in page
    assert "gateway-status-x" not in page


@pytest.mark.parametrize("role", ["comms", "teacher"])
async def test_teachers_and_communications_staff_are_refused(
    client: TestClient[Any, Any], login: Any, store: Any, role: str
) -> None:
    if role == "teacher":
        with store.sessions() as session:
            store.passwords["teacher"] = add_user(
                session, "teacher", "teacher", actor="test", change_due=False
            )
            session.commit()
    await login(client, role)
    response = await client.get("/health")
    assert response.status == 403 and "Needs attention" not in await response.text()
