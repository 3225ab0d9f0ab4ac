"""A failing instant alert is visible to the lead and to IT staff: a line on the dashboard,
and its last error on the health page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from monitor.store.models import SafeguardingAlert


async def test_an_undelivered_alert_shows_on_the_dashboard_and_the_health_page(
    client: TestClient[Any, Any], store: Any, login: Any
) -> None:
    now = datetime.now(UTC)
    with store.sessions() as session:
        session.add(
            SafeguardingAlert(
                identity="user:pupil.a", window_start=now - timedelta(minutes=5),
                created_at=now - timedelta(minutes=5), send_after=now - timedelta(minutes=1),
                event_count=1, worst_severity=3, mail_state="pending", webhook_state="off",
                attempts=3, last_error="mail: SMTPConnectError: mail server refused",
            )
        )  # fmt: skip
        session.commit()
    for role in ("it_staff", "prevent_lead"):
        client.session.cookie_jar.clear()
        await login(client, role)
        page = await (await client.get("/dashboard")).text()
        assert "1 instant alert(s) to the Prevent lead not delivered yet" in page
        assert 'href="/health"' in page and "pupil.a" not in page
        page = await (await client.get("/health")).text()
        assert "Alert delivery" in page
        assert "1 not delivered yet" in page and "mail server refused" in page
        assert "pupil.a" not in page  # the identity never shows here
