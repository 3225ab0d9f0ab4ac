"""Sessions, CSRF, rate limits, headers, escaping and pseudonyms, against a real server."""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from monitor.console.app import create_app
from monitor.store.accounts import disable_user
from monitor.store.models import AuditEntry

NASTY_URL = 'https://evil.test/"><img src=x onerror=alert(1)><script>alert(2)</script>'
NASTY_TERMS = '<script>alert(3)</script>"><img src=x onerror=alert(4)>'


async def test_every_answer_carries_the_security_headers(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event()
    await login(client, "prevent_lead")
    paths = ["/login", "/events", f"/events/{event.event_id}", "/nowhere", "/static/console.css"]
    for path in paths:
        response = await client.get(path, allow_redirects=False)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_pages_have_no_inline_script_or_style(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event()
    await login(client, "prevent_lead")
    for path in ["/events", f"/events/{event.event_id}", "/dashboard", "/annual-review"]:
        html = await (await client.get(path)).text()
        assert "<script" not in html and " style=" not in html and "<style" not in html, path


async def test_markup_from_outside_is_escaped(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event(url=NASTY_URL, search_terms=NASTY_TERMS, host="evil.test")
    await login(client, "prevent_lead")
    for path in ["/events", f"/events/{event.event_id}", f"/events/{event.event_id}/print"]:
        html = await (await client.get(path)).text()
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html, path


async def test_post_without_csrf_token_is_refused(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event()
    await login(client, "prevent_lead")
    for token in (None, "forged"):
        data = {"status": "escalated"} | ({"csrf_token": token} if token else {})
        response = await client.post(f"/events/{event.event_id}/triage", data=data)
        assert response.status == 403
    with store.sessions() as session:
        trail = select(AuditEntry).where(AuditEntry.event_id == event.event_id)
        assert session.scalar(trail) is None


async def test_login_is_rate_limited(
    client: TestClient[Any, Any], store: Any, token_for: Any
) -> None:
    for _ in range(5):
        token = await token_for(client, "/login")
        response = await client.post(
            "/login", data={"username": "it.staff", "password": "wrong", "form_token": token}
        )
        assert response.status == 401
    token = await token_for(client, "/login")
    response = await client.post(
        "/login",
        data={"username": "it.staff", "password": store.passwords["it_staff"], "form_token": token},
        allow_redirects=False,
    )
    assert response.status == 429  # even the right password waits out the window


async def test_login_form_token_is_needed_and_single_use(
    client: TestClient[Any, Any], store: Any, token_for: Any
) -> None:
    data = {"username": "comms", "password": store.passwords["comms"]}
    assert (await client.post("/login", data=data, allow_redirects=False)).status == 400
    token = await token_for(client, "/login")
    first = await client.post("/login", data=data | {"form_token": token}, allow_redirects=False)
    assert first.status == 303
    client.session.cookie_jar.clear()
    again = await client.post("/login", data=data | {"form_token": token}, allow_redirects=False)
    assert again.status == 400


async def test_logout_ends_the_session(client: TestClient[Any, Any], login: Any) -> None:
    csrf = await login(client, "prevent_lead")
    cookie = {c.key: c.value for c in client.session.cookie_jar}
    response = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert response.status == 303
    client.session.cookie_jar.update_cookies(cookie)  # replaying the old cookie does not help
    response = await client.get("/events", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/login"


async def test_forged_cookie_is_ignored(client: TestClient[Any, Any]) -> None:
    client.session.cookie_jar.update_cookies({"pm_console": "abc.def"})
    response = await client.get("/events", allow_redirects=False)
    assert response.status == 303


async def test_disabled_account_loses_its_session(
    client: TestClient[Any, Any], login: Any, store: Any, monkeypatch: Any
) -> None:
    import monitor.console.web as app_module

    monkeypatch.setattr(app_module, "ACTIVE_RECHECK_SECONDS", 0.0)
    await login(client, "prevent_lead")
    assert (await client.get("/events", allow_redirects=False)).status == 200
    with store.sessions() as session:
        disable_user(session, "prevent.lead", actor="test")
        session.commit()
    assert (await client.get("/events", allow_redirects=False)).status == 303


async def test_it_staff_see_pseudonyms_not_pupils(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event(status="false_positive", user="pupil.zed", device="ipad-9",
                            client_ip="10.9.8.7")  # fmt: skip
    await login(client, "it_staff")
    for path in [f"/events/{event.event_id}", "/it/false-positives"]:
        html = await (await client.get(path)).text()
        for identity in ("pupil.zed", "ipad-9", "10.9.8.7"):
            assert identity not in html, (path, identity)
        assert re.search(r"user-[a-z2-7]{8}", html), path
        assert event.rule in html
    # it_staff cannot filter the queue by user either: the queue is not theirs
    assert (await client.get("/events?user=pupil.zed")).status == 403


async def test_viewing_a_timeline_is_recorded(
    client: TestClient[Any, Any], login: Any, store: Any
) -> None:
    event = store.add_event(user="pupil.yan")
    store.add_event(user="pupil.yan", host="other.test")
    store.add_event(user="someone.else", host="elsewhere.test")
    await login(client, "prevent_lead")
    html = await (await client.get(f"/events/{event.event_id}/timeline")).text()
    assert "other.test" in html and "elsewhere.test" not in html
    with store.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "view.timeline"))
        assert entry is not None
        assert entry.actor == "prevent.lead" and entry.subject == "user:pupil.yan"


async def test_secure_cookie_flags(store: Any, token_for: Any) -> None:
    from monitor.console.settings import ConsoleSettings

    app = create_app(
        ConsoleSettings(cookie_secure=True, session_key="s" * 48),
        store.url, store.policy, store.data_dir,
    )  # fmt: skip
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        token = await token_for(client, "/login")
        response = await client.post(
            "/login",
            data={"username": "comms", "password": store.passwords["comms"], "form_token": token},
            allow_redirects=False,
        )
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie


async def test_session_key_is_generated_with_tight_permissions(store: Any) -> None:
    from monitor.console.keys import load_session_key

    key = load_session_key("", store.data_dir)
    path = store.data_dir / "console-session.key"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_session_key("", store.data_dir) == key
