"""Accounts: the users command, the first administrator, changing a password."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from monitor.cli import main
from monitor.store.accounts import authenticate, ensure_first_admin
from monitor.store.database import make_engine, make_sessionmaker
from monitor.store.migrate import upgrade
from monitor.store.models import ConsoleUser


def test_users_add_list_disable(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade(url)
    assert main(["users", "add", "dsl.jones", "--role", "prevent_lead", "--database-url", url,
                 "--display-name", "D. Jones", "--email", "dsl@school.example"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    password = re.search(r"one-time password: (\S+)", out)
    assert password
    assert main(["users", "add", "dsl.jones", "--role", "it_staff", "--database-url", url]) == 1
    assert "exists already" in capsys.readouterr().err
    assert main(["users", "list", "--database-url", url]) == 0
    assert "dsl.jones\tprevent_lead\tschool\tactive" in capsys.readouterr().out
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        assert authenticate(session, "dsl.jones", password.group(1)) is not None
        stored = session.scalar(select(ConsoleUser.password_hash))
        assert stored and stored.startswith("$argon2") and password.group(1) not in stored
    assert main(["users", "disable", "dsl.jones", "--database-url", url]) == 0
    with sessions() as session:
        assert authenticate(session, "dsl.jones", password.group(1)) is None
    engine.dispose()


def test_first_admin_only_once(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        password = ensure_first_admin(session)
        session.commit()
        assert password and ensure_first_admin(session) is None
        user = authenticate(session, "admin", password)
        assert user is not None and user.role == "prevent_lead"
    engine.dispose()


async def test_change_password(client: TestClient[Any, Any], store: Any, login: Any) -> None:
    csrf = await login(client, "comms")
    old = store.passwords["comms"]
    short = await client.post("/account/password", data={
        "csrf_token": csrf, "current": old, "new": "short", "again": "short"})  # fmt: skip
    assert short.status == 400 and "at least 12" in await short.text()
    wrong = await client.post("/account/password", data={
        "csrf_token": csrf, "current": "nope", "new": "x" * 14, "again": "x" * 14})  # fmt: skip
    assert wrong.status == 400
    done = await client.post("/account/password", data={
        "csrf_token": csrf, "current": old, "new": "a new long pass", "again": "a new long pass"})
    assert done.status == 200 and "password is changed" in await done.text()
    with store.sessions() as session:
        assert authenticate(session, "comms", "a new long pass") is not None
        assert authenticate(session, "comms", old) is None


def test_users_in_a_trust_are_given_their_schools(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    upgrade(url, default_school="north")
    config = tmp_path / "trust.yaml"
    config.write_text(
        f"school_id: north\ndatabase:\n  url: {url}\n"
        "trust:\n  schools:\n    north: Northfield Academy\n    south: Southgate School\n"
    )
    base = ["--config", str(config)]
    lead = ["users", "add", "dsl.n", "--role", "prevent_lead"]
    assert main([*lead, *base]) == 1
    assert "this is a trust: say whose pupils" in capsys.readouterr().err
    assert main([*lead, "--school", "west", *base]) == 1
    assert "unknown school west" in capsys.readouterr().err
    assert main([*lead, "--school", "north", *base]) == 0
    assert "sees north" in capsys.readouterr().out
    trust_lead = ["users", "add", "trust.dsl", "--role", "prevent_lead", "--all-schools"]
    assert main([*trust_lead, *base]) == 0
    assert main(["users", "schools", "dsl.n", "north", "south", *base]) == 0
    assert "now sees north,south" in capsys.readouterr().out
    assert main(["users", "list", *base]) == 0
    listed = capsys.readouterr().out
    assert "dsl.n\tprevent_lead\tnorth,south\t" in listed
    assert "trust.dsl\tprevent_lead\tevery school\t" in listed
