"""Throttles that cannot be turned into a lockout (security review): a delay per (account,
address) that a correct password beats once it has passed, an audited unlock, throttled
current-password guesses, a sign-in form bound to the browser, and unblock requests limited
per requester rather than per shared address."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from monitor.console.throttle import Backoff, sign_in_key
from monitor.console.web import CONSOLE
from monitor.store.models import AuditEntry


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_delays_doubles_and_is_per_account_and_address() -> None:
    clock = Clock()
    backoff = Backoff(3, 900, clock=clock)
    key, elsewhere = sign_in_key("admin", "10.0.0.5"), sign_in_key("admin", "10.0.0.9")
    for _ in range(3):
        assert backoff.wait(key) == 0
        backoff.fail(key)
    assert backoff.wait(key) == 2.0  # the first delay
    clock.now += 2.0
    assert backoff.wait(key) == 0  # after it, the next try is allowed
    backoff.fail(key)
    assert backoff.wait(key) == 4.0  # doubling
    for _ in range(20):
        backoff.fail(key)
    assert backoff.wait(key) == 900  # capped: never a lockout
    assert backoff.wait(elsewhere) == 0  # the admin elsewhere is not held up
    assert backoff.unlock("admin") == 1 and backoff.wait(key) == 0


async def login(client: TestClient[Any, Any], username: str, password: str) -> int:
    page = await client.get("/login")
    token = re.search(r'name="form_token" value="([^"]+)"', await page.text())
    assert token
    response = await client.post(
        "/login",
        data={"username": username, "password": password, "form_token": token.group(1)},
        allow_redirects=False,
    )
    return response.status


async def test_a_correct_password_after_the_delay_always_works(
    client: TestClient[Any, Any], store: Any
) -> None:
    clock = Clock()
    console = client.app[CONSOLE]
    console.login_throttle = Backoff(5, 900, clock=clock)
    for _ in range(5):
        assert await login(client, "it.staff", "wrong") == 401
    assert await login(client, "it.staff", store.passwords["it_staff"]) == 429  # waits first
    clock.now += 2.5
    assert await login(client, "it.staff", store.passwords["it_staff"]) == 303


async def test_the_prevent_lead_lifts_a_delay_and_it_is_audited(
    client: TestClient[Any, Any], store: Any, login: Any
) -> None:
    console = client.app[CONSOLE]
    for _ in range(8):
        console.login_throttle.fail(sign_in_key("comms", "10.1.1.1"))
    csrf = await login(client, "prevent_lead")
    done = await client.post(
        "/accounts/unlock", data={"username": "comms", "csrf_token": csrf}, allow_redirects=False
    )
    assert done.status == 303
    assert console.login_throttle.wait(sign_in_key("comms", "10.1.1.1")) == 0
    with store.sessions() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "user.unlock"))
    assert entry is not None and entry.subject == "user:comms" and entry.actor == "prevent.lead"


async def test_wrong_current_passwords_are_throttled(
    client: TestClient[Any, Any], store: Any, login: Any
) -> None:
    csrf = await login(client, "comms")
    new = "a perfectly long new password"
    for _ in range(5):
        wrong = await client.post("/account/password", data={
            "csrf_token": csrf, "current": "guess", "new": new, "again": new})  # fmt: skip
        assert "current password is not right" in await wrong.text()
    right = store.passwords["comms"]
    held = await client.post("/account/password", data={
        "csrf_token": csrf, "current": right, "new": new, "again": new})  # fmt: skip
    assert "Too many wrong passwords" in await held.text()


async def test_the_sign_in_form_is_bound_to_the_browser(
    client: TestClient[Any, Any], store: Any
) -> None:
    page = await client.get("/login")
    token = re.search(r'name="form_token" value="([^"]+)"', await page.text())
    assert token
    data = {"username": "comms", "password": store.passwords["comms"], "form_token": token.group(1)}
    # The same token posted by another browser (a login CSRF from another site) is refused.
    base = str(client.make_url("")).rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        forged = await other.post(f"{base}/login", data=data, allow_redirects=False)
        assert forged.status == 400
    own = await client.post("/login", data=data, allow_redirects=False)
    assert own.status == 303


async def review(session: Any, base: str, n: int) -> int:
    page = await session.get(f"{base}/request-review")
    token = re.search(r'name="form_token" value="([^"]+)"', await page.text())
    assert token
    form = {"url": f"https://r{n}.test/", "reason": "for a lesson", "form_token": token.group(1)}
    sent = await session.post(f"{base}/request-review", data=form)
    return int(sent.status)


async def test_unblock_requests_are_limited_per_requester_not_per_address(
    client: TestClient[Any, Any],
) -> None:
    base = str(client.make_url("")).rstrip("/")
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as first,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as second,
    ):
        for n in range(10):
            assert await review(first, base, n) == 200
        assert await review(first, base, 99) == 429  # one pupil's share is used up
        assert await review(second, base, 100) == 200  # the next pupil, same address, is not
