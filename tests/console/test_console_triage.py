"""The queue, triage with its audit trail, CSV export and the printable summary."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from monitor.store.models import AuditEntry, Event


async def test_queue_filters_sorts_and_pages(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    now = datetime.now(UTC)
    for i in range(60):
        store.add_event(host=f"site{i}.test", severity=i % 5, last_seen=now - timedelta(minutes=i),
                        first_seen=now - timedelta(minutes=i))  # fmt: skip
    store.add_event(host="needle.test", category="circumvention", kind="circumvention",
                    status="escalated", severity=2)  # fmt: skip
    await login(client, "prevent_lead")
    html = await (await client.get("/events")).text()
    assert html.count('name="event" value=') == 50
    next_link = re.search(r'href="/events(\?[^"]*after=[^"]+)" rel="next"', html)
    assert next_link
    page2 = await (await client.get("/events" + next_link.group(1).replace("&amp;", "&"))).text()
    assert page2.count('name="event" value=') == 11
    filtered = await (await client.get("/events?status=escalated&category=circumvention")).text()
    assert "needle.test" in filtered and filtered.count('name="event" value=') == 1
    text = await (await client.get("/events?q=NEEDLE")).text()
    assert "needle.test" in text and text.count('name="event" value=') == 1
    severe = await (await client.get("/events?severity=4&sort=severity")).text()
    assert severe.count('name="event" value=') == 12
    bad = await client.get("/events?severity=9&status=nonsense&since=yesterday&after=zz")
    assert bad.status == 200
    assert "ignored" in await bad.text()


async def test_triage_changes_are_audited_and_shown(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event()
    csrf = await login(client, "prevent_lead")
    path = f"/events/{event.event_id}"
    response = await client.post(
        f"{path}/triage", data={"csrf_token": csrf, "status": "referred", "note": "x"}
    )
    assert "referral needs its reference" in await response.text()
    response = await client.post(
        f"{path}/triage",
        data={"csrf_token": csrf, "status": "referred", "referral_ref": "CH-2026-0042",
              "assignee": "prevent.lead", "note": "Referred to Channel after talking to tutor"},
    )  # fmt: skip
    html = await response.text()
    assert "Saved: status referred, assigned to prevent.lead" in html
    assert "CH-2026-0042" in html and "Referred to Channel after talking to tutor" in html
    response = await client.post(
        f"{path}/triage", data={"csrf_token": csrf, "status": "referred",
                                "referral_ref": "CH-2026-0042", "assignee": "prevent.lead",
                                "note": "Follow-up meeting booked"}
    )  # fmt: skip
    assert "note added" in await response.text()
    with store.sessions() as session:
        row = session.scalar(select(Event).where(Event.event_id == event.event_id))
        assert row is not None
        assert (row.status, row.referral_ref, row.assignee) == (
            "referred", "CH-2026-0042", "prevent.lead",
        )
        actions = session.scalars(
            select(AuditEntry.action).where(AuditEntry.event_id == event.event_id)
            .order_by(AuditEntry.id)
        ).all()  # fmt: skip
    assert list(actions) == ["status", "assign", "note"]


async def test_false_positive_reaches_the_it_queue_with_its_rule(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event(rule="history-site.test", rule_source="local/block.yaml:7")
    csrf = await login(client, "prevent_lead")
    await client.post(f"/events/{event.event_id}/triage",
                      data={"csrf_token": csrf, "status": "false_positive", "note": "a museum"})
    client.session.cookie_jar.clear()
    await login(client, "it_staff")
    html = await (await client.get("/it/false-positives")).text()
    assert "history-site.test" in html and "local/block.yaml:7" in html
    page = await (await client.get(f"/events/{event.event_id}")).text()
    assert "a museum" not in page  # notes may name pupils: hidden from IT staff
    assert "(hidden)" in page and 'action="/events/' not in page  # no triage form


async def test_csv_export_of_ticked_events(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    one = store.add_event(search_terms="=HYPERLINK(\"http://x.invalid\")", host="one.test")
    two = store.add_event(host="two.test")
    store.add_event(host="three.test")
    csrf = await login(client, "prevent_lead")
    response = await client.post(
        "/events/export", data=[("csrf_token", csrf), ("event", one.event_id),
                                ("event", two.event_id), ("event", "../../etc")]
    )  # fmt: skip
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert {r["host"] for r in rows} == {"one.test", "two.test"}
    by_host = {r["host"]: r for r in rows}
    assert by_host["one.test"]["search_terms"].startswith("'=")  # not run as a formula
    assert by_host["two.test"]["user"] == "pupil.amy"
    with store.sessions() as session:
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "export.csv"))


async def test_export_all_matching_and_printable_summary(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event(host="print.test")
    store.add_event(host="other.test", category="circumvention")
    await login(client, "prevent_lead")
    text = await (await client.get("/events.csv?category=extremism")).text()
    assert "print.test" in text and "other.test" not in text
    html = await (await client.get(f"/events/{event.event_id}/print")).text()
    assert "Safeguarding record" in html and "print.test" in html and "pupil.amy" in html


async def test_ranking_orders_by_severity_times_frequency(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    store.add_event(user="low.user", severity=1, repeat_count=3)
    store.add_event(user="high.user", severity=4, repeat_count=2)
    await login(client, "prevent_lead")
    html = await (await client.get("/ranking")).text()
    assert html.index("high.user") < html.index("low.user")


async def test_unknown_event_is_a_404(client: TestClient[Any, Any], login: Any) -> None:
    await login(client, "prevent_lead")
    assert (await client.get("/events/" + "f" * 32)).status == 404
    assert (await client.get("/events/..%2F..%2Fetc")).status == 404
