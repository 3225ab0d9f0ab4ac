"""Unblock requests: the public form, and approvals written into the policy's local files."""

from __future__ import annotations

from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from filters.policy import Policy
from monitor.store.models import AuditEntry, UnblockRequest


async def _send(client: TestClient[Any, Any], token_for: Any, **fields: str) -> Any:
    token = await token_for(client, "/request-review")
    return await client.post("/request-review", data={"form_token": token, **fields})


async def test_block_page_request_reaches_it_staff(
    client: TestClient[Any, Any], store: Any, token_for: Any, login: Any
) -> None:
    event = store.add_event(rule="blocked-rule.test", host="history.test")
    form = await client.get(f"/request-review?url=https://history.test/a&ref={event.event_id}")
    assert form.status == 200 and "https://history.test/a" in await form.text()
    assert "pupil.amy" not in await form.text()
    sent = await _send(client, token_for, url="https://history.test/a", ref=event.event_id,
                       reason='Coursework on <b>the Cold War</b>', name="A. Teacher")  # fmt: skip
    assert sent.status == 200 and "Request sent" in await sent.text()
    with store.sessions() as session:
        item = session.scalar(select(UnblockRequest))
        assert item is not None
        assert (item.host, item.rule, item.event_id, item.status) == (
            "history.test", "blocked-rule.test", event.event_id, "open",
        )
    await login(client, "it_staff")
    html = await (await client.get("/unblock")).text()
    assert "history.test" in html and "&lt;b&gt;the Cold War&lt;/b&gt;" in html


async def test_public_form_refuses_bad_input(
    client: TestClient[Any, Any], store: Any, token_for: Any
) -> None:
    no_token = await client.post("/request-review", data={"url": "https://a.test/", "reason": "x"})
    assert no_token.status == 400
    assert (await _send(client, token_for, url="javascript:alert(1)", reason="x")).status == 400
    assert (await _send(client, token_for, url="https://a.test/", reason="")).status == 400
    assert (await _send(client, token_for, url="https://a.test/", reason="x" * 1001)).status == 400
    for url in ("http://[::1/", "https://a.test:99999/", "http://a.test/\u202egpj"):
        assert (await _send(client, token_for, url=url, reason="x")).status == 400, url
    with store.sessions() as session:
        assert session.scalar(select(UnblockRequest)) is None


async def test_public_form_is_rate_limited(
    client: TestClient[Any, Any], store: Any, token_for: Any
) -> None:
    for i in range(10):
        sent = await _send(client, token_for, url=f"https://a{i}.test/", reason="lesson")
        assert sent.status == 200
    assert (await _send(client, token_for, url="https://b.test/", reason="lesson")).status == 429


async def test_approving_writes_an_allowlist_entry_that_loads(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    request_id = new_request(host="museum.example", url="https://www.museum.example/ww2")
    csrf = await login(client, "it_staff")
    response = await client.post(
        f"/unblock/{request_id}/approve",
        data={"csrf_token": csrf, "mode": "allow", "allow_kind": "domain",
              "allow_value": "museum.example", "note": "history department"},
    )  # fmt: skip
    assert "Approved: allowlist museum.example" in await response.text()
    allow = store.policy.parent / "local/allow.yaml"
    text = allow.read_text()
    assert text.startswith("# Local legitimate-study allowlist")  # comments kept
    assert yaml.safe_load(text)["entries"] == [
        {"domain": "museum.example", "note": "history department"}
    ]
    assert Policy.validate(store.policy) == []
    decision = Policy.load(store.policy).decide("https://museum.example/ww2")
    assert decision.action.value == "allow"
    with store.sessions() as session:
        item = session.get(UnblockRequest, request_id)
        assert item is not None and item.status == "approved" and item.decided_by == "it.staff"
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "unblock.approve"))
    again = await client.post(f"/unblock/{request_id}/approve", data={
        "csrf_token": csrf, "mode": "allow", "allow_value": "museum.example"})  # fmt: skip
    assert "already approved" in await again.text()
    assert allow.read_text() == text


async def test_prevent_lead_approves_a_time_boxed_study_exemption(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    request_id = new_request(requester="A. Teacher", reason="Y13 Politics: radicalisation unit")
    csrf = await login(client, "prevent_lead")
    response = await client.post(
        f"/unblock/{request_id}/approve",
        data=[("csrf_token", csrf), ("mode", "exemption"), ("sites", "research.example"),
              ("categories", "extremism"), ("groups", "pupils"),
              ("starts", "2026-11-02"), ("ends", "2026-12-18")],
    )  # fmt: skip
    assert "Approved: study exemption" in await response.text()
    path = store.policy.parent / "local/exemptions.yaml"
    assert path.read_text().startswith("# Study exemptions approved by the Prevent lead")
    (entry,) = yaml.safe_load(path.read_text())["exemptions"]
    assert entry["approved_by"] == "prevent.lead"
    # The typed name stays in the store (the lead sees it there); the file names the request.
    assert entry["requested_by"] == f"unblock request {request_id}"
    assert "A. Teacher" not in path.read_text()
    assert (entry["starts"], entry["ends"]) == ("2026-11-02", "2026-12-18")
    assert entry["sites"] == ["research.example"] and entry["groups"] == ["pupils"]
    policy = Policy.load(store.policy)
    assert [e.id for e in policy.spec.exemptions] == [entry["id"]]


async def test_an_approval_that_breaks_the_policy_is_rolled_back(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    request_id = new_request()
    path = store.policy.parent / "local/exemptions.yaml"
    before = path.read_text()
    csrf = await login(client, "prevent_lead")
    response = await client.post(
        f"/unblock/{request_id}/approve",
        data=[("csrf_token", csrf), ("mode", "exemption"), ("categories", "no-such-category"),
              ("starts", "2026-11-02"), ("ends", "2026-12-18")],
    )  # fmt: skip
    html = await response.text()
    assert "would not load" in html and "no-such-category" in html
    assert path.read_text() == before
    with store.sessions() as session:
        item = session.get(UnblockRequest, request_id)
        assert item is not None and item.status == "open"


async def test_denying_records_why(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    request_id = new_request()
    csrf = await login(client, "it_staff")
    empty = await client.post(f"/unblock/{request_id}/deny", data={"csrf_token": csrf})
    assert "Say why" in await empty.text()
    await client.post(f"/unblock/{request_id}/deny",
                      data={"csrf_token": csrf, "why": "a proxy site"})  # fmt: skip
    with store.sessions() as session:
        item = session.get(UnblockRequest, request_id)
        assert item is not None
        assert (item.status, item.decision_note, item.decided_by) == (
            "denied", "a proxy site", "it.staff",
        )
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "unblock.deny"))
        assert entry is not None and entry.note == "a proxy site"


async def test_illegal_categories_are_neither_offered_nor_accepted(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    request_id = new_request(reason="Y13 Politics")
    csrf = await login(client, "prevent_lead")
    page = await (await client.get(f"/unblock/{request_id}")).text()
    assert 'value="extremism"' in page
    assert 'value="unlawful-terrorist-content"' not in page  # marked illegal: true
    path = store.policy.parent / "local/exemptions.yaml"
    before = path.read_text()
    response = await client.post(
        f"/unblock/{request_id}/approve",
        data=[("csrf_token", csrf), ("mode", "exemption"),
              ("categories", "unlawful-terrorist-content"),
              ("starts", "2026-11-02"), ("ends", "2026-12-18")],
    )  # fmt: skip
    assert "No exemption can lift unlawful-terrorist-content" in await response.text()
    assert path.read_text() == before


async def test_a_public_suffix_or_a_broader_site_is_never_allowlisted(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    request_id = new_request(url="https://www.research.example.co.uk/unit",
                             host="www.research.example.co.uk")  # fmt: skip
    allow = store.policy.parent / "local/allow.yaml"
    before = allow.read_text()
    csrf = await login(client, "it_staff")
    for value, said in (("co.uk", "public suffix"), ("com", "top-level domain")):
        response = await client.post(
            f"/unblock/{request_id}/approve",
            data={"csrf_token": csrf, "mode": "allow", "allow_kind": "domain",
                  "allow_value": value},
        )  # fmt: skip
        assert said in await response.text()
    assert allow.read_text() == before
    ok = await client.post(
        f"/unblock/{request_id}/approve",
        data={"csrf_token": csrf, "mode": "allow", "allow_kind": "domain",
              "allow_value": "research.example.co.uk"},
    )  # fmt: skip
    assert "Approved: allowlist research.example.co.uk" in await ok.text()
