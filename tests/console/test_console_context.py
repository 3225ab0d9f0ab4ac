"""The context page: the Prevent lead sees the hosts an hour either side of an event, the look
is audited, and IT staff and communications staff are refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from monitor.events import ContextVisit
from monitor.store.contextlog import ContextLog
from monitor.store.database import make_engine
from monitor.store.models import AuditEntry


def add_context(store: Any, event: Any, *visits: tuple[float, str, str]) -> None:
    engine = make_engine(store.url)
    try:
        ContextLog().write(
            engine,
            [ContextVisit(event.first_seen + timedelta(minutes=m), who, host, "allow")
             for m, who, host in visits],
        )  # fmt: skip
    finally:
        engine.dispose()


async def test_the_lead_sees_the_hosts_around_an_event_and_it_is_audited(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event(user="pupil.yan")
    add_context(
        store,
        event,
        (-30, "user:pupil.yan", "before.test"),
        (20, "user:pupil.yan", "after.test"),
        (-90, "user:pupil.yan", "long-before.test"),
        (5, "user:someone.else", "elsewhere.test"),
    )
    await login(client, "prevent_lead")
    timeline = await (await client.get(f"/events/{event.event_id}/timeline")).text()
    assert f"/events/{event.event_id}/context" in timeline  # linked from the timeline
    response = await client.get(f"/events/{event.event_id}/context")
    html = await response.text()
    assert response.status == 200
    assert "before.test" in html and "after.test" in html
    assert "long-before.test" not in html and "elsewhere.test" not in html
    with store.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "view.context"))
        assert entry is not None
        assert (entry.actor, entry.event_id, entry.subject) == (
            "prevent.lead", event.event_id, "user:pupil.yan",
        )  # fmt: skip
    assert (await client.get("/events/0123456789abcdef/context")).status == 404


@pytest.mark.parametrize("role", ["it_staff", "comms"])
async def test_it_staff_and_comms_are_refused_and_nothing_is_recorded(
    client: TestClient[Any, Any], login: Any, store: Any, role: str
) -> None:
    event = store.add_event(user="pupil.yan")
    add_context(store, event, (1, "user:pupil.yan", "visited.test"))
    await login(client, role)
    response = await client.get(f"/events/{event.event_id}/context", allow_redirects=False)
    assert response.status == 403
    assert "visited.test" not in await response.text()
    with store.sessions() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "view.context")) is None
