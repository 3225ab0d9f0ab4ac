"""A one-time password (the first administrator's, or `users add`'s) works for one thing only:
choosing a new password. A password change ends the account's other sessions."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from monitor.store.accounts import add_user

NAME = "new.dsl"


async def sign_in(client: Any, password: str, url: str = "") -> Any:
    """Sign in as NAME; `client` is the test client, or a second browser (a ClientSession)."""
    page = await client.get(f"{url}/login")
    token = re.search(r'name="form_token" value="([^"]+)"', await page.text())
    assert token
    return await client.post(
        f"{url}/login",
        data={"username": NAME, "password": password, "form_token": token.group(1)},
        allow_redirects=False,
    )


async def csrf(client: TestClient[Any, Any]) -> str:
    text = await (await client.get("/account/password")).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', text)
    assert found, text[:400]
    return found.group(1)


async def test_first_sign_in_must_set_a_new_password(
    store: Any, client: TestClient[Any, Any]
) -> None:
    with store.sessions() as session:
        one_time = add_user(session, NAME, "prevent_lead")  # as `users add` and first run do
        session.commit()

    signed_in = await sign_in(client, one_time)
    assert signed_in.status == 303
    # Every page sends the account to the password page, and no form works but that one.
    for path in ("/", "/events", "/annual-review"):
        page = await client.get(path, allow_redirects=False)
        assert page.status == 303 and page.headers["Location"] == "/account/password", path
    form = await client.get("/account/password")
    assert form.status == 200
    assert "You signed in with a one-time password" in await form.text()
    token = await csrf(client)
    refused = await client.post("/events/export", data={"csrf_token": token})
    assert refused.status == 403

    # A second browser signed in with the same one-time password ...
    base = str(client.make_url("")).rstrip("/")
    other = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    try:
        assert (await sign_in(other, one_time, base)).status == 303

        new = "a much longer own password"
        changed = await client.post(
            "/account/password",
            data={"csrf_token": token, "current": one_time, "new": new, "again": new},
            allow_redirects=False,
        )
        assert changed.status == 303
        home = await client.get("/events", allow_redirects=False)
        assert home.status == 200
        # ... is signed out by the change.
        ended = await other.get(f"{base}/events", allow_redirects=False)
        assert ended.status == 303 and ended.headers["Location"] == "/login"
    finally:
        await other.close()

    # The one-time password no longer works; the new one does, with no detour.
    client.session.cookie_jar.clear()
    assert (await sign_in(client, one_time)).status == 401
    again = await sign_in(client, new)
    assert again.status == 303
    assert (await client.get("/events", allow_redirects=False)).status == 200


async def test_accounts_created_with_a_known_password_are_not_held(
    store: Any, login: Any, client: TestClient[Any, Any]
) -> None:
    """The role accounts of these tests were made with `change_due=False`."""
    await login(client, "it_staff")
    page = await client.get("/", allow_redirects=False)
    assert page.headers.get("Location") != "/account/password"
