"""A trust of two schools on one store and one console (issue #16): every page, export, search
and count an account can reach shows its own schools' rows and nothing of another school's.

The test walks role × route × school: each account signs in to the real console and requests
every GET route (path parameters filled with each school's event, mention and request), the
CSV exports and the search, and the answer must never carry another school's marker. The
trust-wide account sees both; an account with no school sees nothing and is told why.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session

from monitor.console.app import create_app
from monitor.console.impact import previews, start_preview
from monitor.console.web import CONSOLE
from monitor.events import ContextVisit, FlaggedEvent, identity_of
from monitor.schools import Schools
from monitor.store import scope
from monitor.store.accounts import add_user
from monitor.store.contextlog import ContextLog
from monitor.store.database import make_engine, make_sessionmaker
from monitor.store.folding import store_rows
from monitor.store.migrate import upgrade
from monitor.store.models import BrandMention, Event, UnblockRequest
from monitor.store.rows import event_row
from monitor.store.unblock import add_request
from tests.console.conftest import REPO, form_token, settings

SCHOOLS = Schools({"north": "Northfield Academy", "south": "Southgate School"}, "north")
# (account, role, schools: None every school, () none)
ACCOUNTS: tuple[tuple[str, str, tuple[str, ...] | None], ...] = (
    ("north.lead", "prevent_lead", ("north",)),
    ("south.lead", "prevent_lead", ("south",)),
    ("north.it", "it_staff", ("north",)),
    ("north.comms", "comms", ("north",)),
    ("trust.lead", "prevent_lead", None),
    ("new.lead", "prevent_lead", ()),
)
NOW = datetime.now(UTC)


def marker(school: str) -> str:
    """What only `school`'s rows contain: hosts, terms, pupils, mentions, requests."""
    return f"{school}-only"


@dataclass
class Trust:
    url: str
    policy: Path
    data_dir: Path
    passwords: dict[str, str]
    ids: dict[str, dict[str, str]]  # school -> {"event": id, "mention": id, "request": id}


def _school_rows(sessions: Any, url: str, school: str) -> dict[str, str]:
    mark = marker(school)
    visit = FlaggedEvent(
        source="gateway", kind="search", action="block", category="proscribed", severity=4,
        rule="search:zorblax front", rule_source="lists/terms.yaml:4",
        url=f"https://search.example/search?q={mark}-term", host=f"{mark}.test",
        reason="search for a proscribed organisation", search_terms=f"{mark}-term",
        user=f"pupil.{mark}", device=f"{mark}-laptop", client_ip="10.0.0.7", group="year10",
        school=school, when=NOW - timedelta(minutes=30),
    )  # fmt: skip
    engine = make_engine(url)
    with engine.begin() as connection:
        store_rows(connection, [event_row(visit, SCHOOLS)], timedelta(minutes=10))
    ContextLog(school).write(
        engine,
        [ContextVisit(visit.when, identity_of(visit.user, None, None), f"{mark}.c.test", "allow")],
    )
    engine.dispose()
    session: Session = sessions()
    mention = BrandMention(
        school=school, mention_key=uuid.uuid4().hex, feed="https://alerts.example/feed",
        url=f"https://{mark}-mention.example/story", title=f"{mark} story", first_seen=NOW,
        last_seen=NOW, severity=3, state="new",
    )  # fmt: skip
    session.add(mention)
    session.flush()
    request = add_request(
        session, url=f"https://{mark}-request.example/", host=f"{mark}-request.example",
        requester=f"pupil.{mark}", reason=f"{mark} homework", ref=visit.id,
    )  # fmt: skip
    assert session.get(UnblockRequest, request).school == school  # from its event
    session.commit()
    session.close()
    return {"event": visit.id, "mention": str(mention.id), "request": str(request)}


@pytest.fixture
def trust(tmp_path: Path) -> Trust:
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    upgrade(url)
    engine = make_engine(url)
    passwords, ids = {}, {}
    sessions = make_sessionmaker(engine)
    with sessions() as session:
        for name, role, schools in ACCOUNTS:
            passwords[name] = add_user(
                session, name, role, actor="test", change_due=False, schools=schools
            )
        session.commit()
    for school in sorted(SCHOOLS.ids):
        ids[school] = _school_rows(sessions, url, school)
    engine.dispose()
    policy_dir = tmp_path / "blocklists"
    shutil.copytree(REPO / "blocklists", policy_dir)
    return Trust(url, policy_dir / "policy.yaml", tmp_path / "data", passwords, ids)


@pytest.fixture
async def console(trust: Trust) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings(), trust.url, trust.policy, trust.data_dir, schools=SCHOOLS)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        await _previews(app, trust)
        yield client


async def _previews(app: Any, trust: Trust) -> None:
    """One impact preview per school, started under that school's scope, that would block
    both schools' context-log hosts: each shows only its own school's."""
    block = "category: extremism\nentries:\n" + "".join(
        f"  - {marker(school)}.c.test\n" for school in SCHOOLS.ids
    )
    console = app[CONSOLE]
    for school in SCHOOLS.ids:
        with scope.only_schools({school}):
            job = await start_preview(console, {"local/block.yaml": block}, "/save", {})
        trust.ids[school]["preview"] = job
    for school in SCHOOLS.ids:
        for _ in range(400):
            found = previews(console).get(trust.ids[school]["preview"])
            if found is not None and found.finished:
                break
            await asyncio.sleep(0.025)


async def sign_in(client: TestClient[Any, Any], trust: Trust, name: str) -> str:
    token = await form_token(client, "/login")
    response = await client.post(
        "/login",
        data={"username": name, "password": trust.passwords[name], "form_token": token},
        allow_redirects=False,
    )
    assert response.status == 303, await response.text()
    page = await (await client.get("/account/password")).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def get_paths(trust: Trust) -> list[str]:
    """Every GET route of the console, with its parameters filled in for each school."""
    paths = [
        "/", "/events", "/events.csv", "/ranking", "/dashboard", "/health", "/it/test-url",
        "/it/false-positives",
        "/unblock", "/mentions", "/digests", "/annual-review", "/annual-review.csv", "/trust",
        "/events?q=north-only", "/events?q=south-only", "/events?school=north",
        "/events?school=south", "/events.csv?q=south-only", "/events.csv?q=north-only",
        "/it/lists", "/it/lists/edit?file=local/block.yaml", "/it/groups", "/it/policy/versions",
        "/it/policy/versions/1",
    ]  # fmt: skip
    for ids in trust.ids.values():
        event = ids["event"]
        paths += [
            f"/events/{event}", f"/events/{event}/context", f"/events/{event}/print",
            f"/events/{event}/timeline", f"/mentions/{ids['mention']}",
            f"/unblock/{ids['request']}", f"/it/impact/{ids.get('preview', 'no-such-job')}",
        ]  # fmt: skip
    return paths


def test_the_walk_covers_every_get_route(trust: Trust) -> None:
    app = create_app(settings(), trust.url, trust.policy, trust.data_dir, schools=SCHOOLS)
    routes = {
        r.resource.canonical
        for r in app.router.routes()
        if r.method == "GET" and r.resource is not None
    }
    walked = {
        re.sub(r"/\d+$", "/{request_id}", re.sub(r"[0-9a-f]{32}", "{event_id}", p.split("?")[0]))
        for p in get_paths(trust)
    }
    walked = {p.replace("/mentions/{request_id}", "/mentions/{mention_id}") for p in walked}
    walked = {p.replace("/versions/{request_id}", "/versions/{number}") for p in walked}
    walked = {re.sub(r"^/it/impact/[^/]+$", "/it/impact/{job}", p) for p in walked}
    public = {"/login", "/request-review", "/healthz", "/static", "/account/password"}
    canonical = {re.sub(r"\{request_id[^}]*\}", "{request_id}", r) for r in routes}
    assert canonical - public <= walked, canonical - public - walked


@pytest.mark.parametrize(
    ("name", "sees"),
    [
        ("north.lead", {"north"}),
        ("south.lead", {"south"}),
        ("north.it", {"north"}),
        ("north.comms", {"north"}),
        ("trust.lead", {"north", "south"}),
    ],
)
async def test_each_account_sees_only_its_schools_on_every_route(
    console: TestClient[Any, Any], trust: Trust, name: str, sees: set[str]
) -> None:
    await sign_in(console, trust, name)
    seen: set[str] = set()
    for path in get_paths(trust):
        response = await console.get(path, allow_redirects=False)
        # The search box and links echo what was searched for: that is not a leak.
        body = re.sub(r'(value="|q=)(north|south)-only', "", await response.text())
        for school in SCHOOLS.ids - sees:
            assert marker(school) not in body, (name, path)
            own_ids = trust.ids[school]
            if path.startswith((f"/events/{own_ids['event']}", f"/mentions/{own_ids['mention']}")):
                assert response.status in (403, 404), (name, path, response.status)
            if path in (f"/unblock/{own_ids['request']}", f"/it/impact/{own_ids['preview']}"):
                assert response.status in (403, 404), (name, path, response.status)
        seen |= {school for school in SCHOOLS.ids if marker(school) in body}
    if name.endswith(".lead"):
        assert seen == sees  # a lead's own school's rows are there to see


async def test_an_export_of_another_schools_events_exports_nothing(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    csrf = await sign_in(console, trust, "north.lead")
    south_event = trust.ids["south"]["event"]
    response = await console.post(
        "/events/export", data={"csrf_token": csrf, "event": [south_event]}
    )
    body = await response.text()
    assert marker("south") not in body
    north_event = trust.ids["north"]["event"]
    response = await console.post(
        "/events/export", data={"csrf_token": csrf, "event": [north_event, south_event]}
    )
    body = await response.text()
    assert response.status == 200 and marker("north") in body and marker("south") not in body
    assert body.splitlines()[0].startswith("event_id,school,")


async def test_triage_of_another_schools_event_is_refused(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    csrf = await sign_in(console, trust, "north.lead")
    south_event = trust.ids["south"]["event"]
    response = await console.post(
        f"/events/{south_event}/triage",
        data={"csrf_token": csrf, "status": "closed_no_concern", "note": "not mine"},
        allow_redirects=False,
    )
    assert response.status in (303, 403, 404)
    await console.post("/logout", data={"csrf_token": csrf})
    await sign_in(console, trust, "south.lead")
    page = await (await console.get(f"/events/{south_event}")).text()
    assert "not mine" not in page and "New" in page


async def test_the_trust_lead_sees_a_line_per_school(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    await sign_in(console, trust, "trust.lead")
    page = await (await console.get("/trust")).text()
    assert "Northfield Academy" in page and "Southgate School" in page
    assert 'href="/events?school=south"' in page
    queue = await (await console.get("/events?school=south")).text()
    assert marker("south") in queue and marker("north") not in queue


async def test_only_an_account_of_many_schools_is_shown_the_schools(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    """The Schools page link, the queue's school column and its school filter are for the
    trust's accounts; a single school's lead sees their own school only, without them."""
    await sign_in(console, trust, "north.lead")
    queue = await (await console.get("/events")).text()
    assert marker("north") in queue
    assert 'href="/trust"' not in queue and 'name="school"' not in queue
    assert 'class="muted school"' not in queue
    console.session.cookie_jar.clear()  # signed out
    await sign_in(console, trust, "trust.lead")
    queue = await (await console.get("/events")).text()
    assert 'href="/trust"' in queue and 'name="school"' in queue
    assert 'class="muted school"' in queue


async def test_an_account_with_no_school_sees_nothing_and_is_told_why(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    await sign_in(console, trust, "new.lead")
    for path in ("/events", "/dashboard", f"/events/{trust.ids['north']['event']}"):
        response = await console.get(path)
        body = await response.text()
        assert response.status == 403, path
        assert "has not been given a school" in body and "users schools new.lead" in body
        assert marker("north") not in body and marker("south") not in body


async def test_an_event_of_a_school_the_config_does_not_know_is_kept_for_the_trust_lead(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    stray = FlaggedEvent(
        source="gateway", kind="url", action="block", category="extremism", severity=3,
        rule="stray.test", url="https://stray-only.test/", host="stray-only.test",
        user="pupil.stray", school="westfield",
    )  # fmt: skip
    engine = make_engine(trust.url)
    with engine.begin() as connection:
        store_rows(connection, [event_row(stray, SCHOOLS)], timedelta(minutes=10))
    engine.dispose()
    await sign_in(console, trust, "north.lead")
    assert "stray-only" not in await (await console.get("/events")).text()
    await console.post("/logout", data={"csrf_token": await _csrf(console)})
    await sign_in(console, trust, "trust.lead")
    queue = await (await console.get("/events")).text()
    assert "stray-only" in queue and "Unknown school" in queue
    summary = await (await console.get("/trust")).text()
    assert "1 event stored under a school this configuration does not know" in summary
    page = await (await console.get(f"/events/{stray.id}")).text()
    assert "&#39;westfield&#39; is not in this configuration" in page


async def _csrf(client: TestClient[Any, Any]) -> str:
    page = await (await client.get("/account/password")).text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


async def test_an_impact_preview_replays_its_own_schools_week_only(
    console: TestClient[Any, Any], trust: Trust
) -> None:
    await sign_in(console, trust, "north.it")
    own = await console.get(f"/it/impact/{trust.ids['north']['preview']}")
    body = await own.text()
    assert own.status == 200 and f"<td>{marker('north')}.c.test</td>" in body
    assert marker("south") not in body
    other = await console.get(f"/it/impact/{trust.ids['south']['preview']}")
    assert other.status == 404


def test_one_name_at_two_schools_is_two_pseudonyms() -> None:
    """In a trust, IT staff cannot link a pupil's events across schools by pseudonym; a single
    school keeps the pseudonyms it had before schools existed."""
    from monitor.console.eventview import who_of
    from monitor.console.roles import Pseudonyms

    key = b"k" * 32
    trust, single = Pseudonyms(key, per_school=True), Pseudonyms(key)
    events = [
        Event(user="amy.pupil", school=school, client_ip="10.0.0.7")
        for school in ("north", "south")
    ]
    north, south = (who_of(e, False, trust) for e in events)
    assert north.startswith("user-") and south.startswith("user-") and north != south
    assert who_of(events[0], False, trust) == north  # stable
    assert who_of(events[0], False, single) == who_of(events[1], False, single)
    assert who_of(events[0], False, single) == single("amy.pupil")
    assert who_of(events[0], True, trust) == "amy.pupil"  # the Prevent lead sees the name
