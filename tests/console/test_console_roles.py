"""The full role-by-route matrix: every route, every role (and nobody signed in), on the server."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

LEAD, IT, COMMS = "prevent_lead", "it_staff", "comms"

# (method, path template, roles allowed). {event}, {request} and {mention} are filled in per test.
MATRIX: list[tuple[str, str, set[str]]] = [
    ("GET", "/events", {LEAD}),
    ("GET", "/events?status=new&severity=3&q=bad", {LEAD}),
    ("GET", "/events.csv", {LEAD}),
    ("GET", "/ranking", {LEAD}),
    ("GET", "/events/{event}", {LEAD, IT}),
    ("GET", "/events/{event}/timeline", {LEAD}),
    ("GET", "/events/{event}/print", {LEAD}),
    ("GET", "/dashboard", {LEAD, IT}),
    ("GET", "/health", {LEAD, IT}),
    ("GET", "/it/false-positives", {LEAD, IT}),
    ("GET", "/it/test-url", {LEAD, IT}),
    ("GET", "/unblock", {LEAD, IT}),
    ("GET", "/unblock/{request}", {LEAD, IT}),
    ("GET", "/mentions", {LEAD, COMMS}),
    ("GET", "/mentions?review=new&severity=2", {LEAD, COMMS}),
    ("GET", "/mentions/{mention}", {LEAD, COMMS}),
    ("GET", "/digests", {LEAD, COMMS}),
    ("GET", "/annual-review", {LEAD, IT}),
    ("GET", "/annual-review.csv", {LEAD, IT}),
    ("GET", "/it/lists", {IT}),
    ("GET", "/it/lists/edit?file=local/block.yaml", {IT}),
    ("GET", "/it/groups", {IT}),
    ("GET", "/it/policy/versions", {LEAD, IT}),
    ("GET", "/it/policy/versions/1", {LEAD, IT}),
    ("POST", "/it/lists/save", {IT}),  # on version 1, before an approval makes version 2
    ("POST", "/events/{event}/triage", {LEAD}),
    ("POST", "/mentions/{mention}/triage", {LEAD}),
    ("POST", "/events/export", {LEAD}),
    ("POST", "/unblock/{request}/deny", {LEAD, IT}),
    ("POST", "/unblock/{request}/approve", {LEAD, IT}),
    ("POST", "/accounts/unlock", {LEAD}),
    ("POST", "/it/test-url", {LEAD, IT}),
]
PUBLIC = ["/login", "/request-review", "/healthz"]


FORMS: dict[str, dict[str, str]] = {
    "triage": {"status": "in_review", "note": "looking"},
    "export": {},
    "deny": {"why": "not needed for lessons"},
    "approve": {"mode": "allow", "allow_kind": "domain", "allow_value": "research.example"},
    "unlock": {"username": "comms"},
    "test-url": {"url": "https://research.example/unit"},
    "save": {"file": "local/block.yaml", "base": "1", "reason": "matrix", "add_value": "m.example"},
}
ANSWERED_IN_PLACE = ("export", "test-url")  # POSTs that answer with a page, not a redirect


@pytest.mark.parametrize("role", [LEAD, IT, COMMS, None])
async def test_role_matrix(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any, new_mention: Any,
    role: str | None,
) -> None:
    csrf = await login(client, role) if role else ""
    wrong = []
    for method, template, allowed in MATRIX:
        event = store.add_event()
        path = template.format(
            event=event.event_id, request=new_request(), mention=new_mention()
        )
        if method == "GET":
            response = await client.get(path, allow_redirects=False)
        else:
            form = dict(FORMS[path.rsplit("/", 1)[-1]], csrf_token=csrf)
            if path.endswith("export"):
                form["event"] = event.event_id
            response = await client.post(path, data=form, allow_redirects=False)
        if role is None:
            expected = {303} if method == "GET" else {403}
        elif role in allowed:
            expected = {200} if method == "GET" or path.endswith(ANSWERED_IN_PLACE) else {303}
        else:
            expected = {403}
        if response.status not in expected:
            wrong.append(f"{method} {template} as {role}: {response.status}, expected {expected}")
        if role is None and method == "GET":
            assert response.headers["Location"] == "/login"
    assert not wrong, "\n".join(wrong)


async def test_public_routes_need_no_session(client: TestClient[Any, Any]) -> None:
    for path in [*PUBLIC, "/static/console.css"]:
        response = await client.get(path, allow_redirects=False)
        assert response.status == 200, path


async def test_it_staff_may_not_approve_a_study_exemption(
    client: TestClient[Any, Any], store: Any, login: Any, new_request: Any
) -> None:
    csrf = await login(client, IT)
    request_id = new_request()
    exemptions = store.policy.parent / "local/exemptions.yaml"
    before = exemptions.read_text()
    response = await client.post(
        f"/unblock/{request_id}/approve",
        data={
            "csrf_token": csrf, "mode": "exemption", "sites": "research.example",
            "starts": "2026-01-05", "ends": "2026-02-01",
        },
        allow_redirects=False,
    )  # fmt: skip
    assert response.status == 403
    assert exemptions.read_text() == before
