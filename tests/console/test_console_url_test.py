"""The URL tester (`/it/test-url`) through the real app: what `check` says, with the step,
the exemption, the unwrapped targets and the search terms; hostile input refused with words;
the typed user name neither logged nor kept; teachers and communications staff refused."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from filters.policy import Policy
from monitor.store.accounts import add_user

LOCAL_BLOCK = """category: extremism
entries:
  - extremist.example
  - {url: forum.example/threads/9}
"""
LOCAL_TERMS = """category: extremism
entries:
  - {phrase: "zorblax front", severity: high}
"""


def exemptions(today: date) -> str:
    return f"""exemptions:
  - id: epq-radicalisation
    reason: "EPQ on radicalisation"
    requested_by: "unblock request 4"
    approved_by: "P. Lead (DSL)"
    pupils: [pupil.kestrel, pupil.wren]
    categories: [extremism]
    starts: {today - timedelta(days=3)}
    ends: {today + timedelta(days=30)}
"""


@pytest.fixture
def tuned(store: Any) -> Path:
    """The copied shipped policy with local entries, a search term and a named-pupil
    exemption (fictional names)."""
    local = store.policy.parent / "local"
    (local / "block.yaml").write_text(LOCAL_BLOCK, encoding="utf-8")
    (local / "search-terms.yaml").write_text(LOCAL_TERMS, encoding="utf-8")
    (local / "exemptions.yaml").write_text(exemptions(date.today()), encoding="utf-8")
    return Path(store.policy)


async def ask(client: TestClient[Any, Any], csrf: str, **fields: str) -> tuple[int, str]:
    response = await client.post("/it/test-url", data={"csrf_token": csrf, **fields})
    return response.status, await response.text()


async def test_a_blocked_url_is_explained_as_check_explains_it(
    client: TestClient[Any, Any], login: Any, tuned: Path
) -> None:
    csrf = await login(client, "it_staff")
    form = await (await client.get("/it/test-url")).text()
    assert 'href="/it/test-url"' in form  # in the nav
    assert '<option value="staff">staff</option>' in form and 'method="post"' in form
    status, page = await ask(client, csrf, url="https://www.extremist.example/path?x=1")
    assert status == 200
    assert '<span class="act">block</span>' in page
    assert "<code>extremism</code> (terrorist or extremist material)" in page
    assert "<code>domain:extremist.example</code>" in page
    assert "/local/block.yaml:3</code>" in page  # the list file:line
    assert "step 3 of the precedence" in page and "<code>pupils</code>" in page
    assert "none applies" in page
    assert '&#34;step&#34;: &#34;group&#34;' in page  # the check line, as JSON
    assert "prevent-monitor check &#39;https://www.extremist.example/path?x=1&#39;" in page


async def test_an_exemption_names_its_pupils_to_the_lead_and_counts_them_for_it(
    client: TestClient[Any, Any], login: Any, tuned: Path
) -> None:
    csrf = await login(client, "it_staff")
    url = "https://extremist.example/unit"
    _, page = await ask(client, csrf, url=url, user="Pupil.Kestrel")
    assert '<span class="act">study</span>' in page and "step 2 of the precedence" in page
    assert "<code>epq-radicalisation</code>" in page and "EPQ on radicalisation" in page
    assert "2 named pupils" in page and "it names the user you typed" in page
    assert "pupil.wren" not in page  # IT staff see how many, never the other names
    last_day = (date.today() + timedelta(days=30)).isoformat()
    assert f"to {last_day} (last day)" in page
    # The lead sees the names.
    client.session.cookie_jar.clear()
    csrf = await login(client, "prevent_lead")
    _, page = await ask(client, csrf, url=url, user="pupil.kestrel")
    assert "pupil.kestrel, pupil.wren" in page
    # Without the user name the exemption does not apply.
    _, page = await ask(client, csrf, url=url)
    assert '<span class="act">block</span>' in page


async def test_unwrapped_targets_and_search_terms_are_shown(
    client: TestClient[Any, Any], login: Any, tuned: Path
) -> None:
    csrf = await login(client, "it_staff")
    wrapped = "https://www.google.com/url?q=https://forum.example/threads/9/reply&sa=U"
    _, page = await ask(client, csrf, url=wrapped, group="pupils")
    assert '<span class="act">block</span>' in page
    assert "<code>https://forum.example/threads/9/reply</code>" in page
    assert "Decided on the target" in page
    _, page = await ask(client, csrf, url="https://www.bing.com/search?q=Zorblax+Front+history")
    assert '<code class="terms">Zorblax Front history</code>' in page
    assert "matched <code>zorblax front</code>" in page
    # Staff flag extremism rather than block it.
    _, page = await ask(client, csrf, url="http://extremist.example/", group="staff")
    assert '<span class="act">flag</span>' in page and "(chosen above)" in page


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"url": "https://a.example/" + "x" * 100_000}, "100,018 characters long; at most 8,192"),
        ({"url": "javascript:alert(document.cookie)"}, 'this one begins &#34;javascript:&#34;'),
        ({"url": " JavaScript:alert(1)"}, 'this one begins &#34;javascript:&#34;'),
        ({"url": "data:text/html,<script>alert(1)</script>"}, 'begins &#34;data:&#34;'),
        ({"url": "file:///etc/passwd"}, 'begins &#34;file:&#34;'),
        ({"url": "http://bad.example/\x00x"}, "contains a control character"),
        ({"url": "http://bad.example/\r\nSet-Cookie: a=b"}, "contains a control character"),
        ({"url": "http://bad.example/\u202egpj.exe"}, "contains a control character"),
        ({"url": "http://[::1/"}, "not a web address that can be read"),
        ({"url": ""}, "Type a web address"),
        ({"url": "https://a.example/", "group": "governors"},
         "There is no group &#34;governors&#34;"),
        ({"url": "https://a.example/", "group": "x" * 5000}, "There is no such group"),
        ({"url": "https://a.example/", "user": "pupil\nforged log line"},
         "User name: The name contains a control"),
        ({"url": "https://a.example/", "user": "p" * 300}, "User name: The name is 300 characters"),
    ],
)  # fmt: skip
async def test_hostile_input_is_refused_with_words(
    client: TestClient[Any, Any], login: Any, tuned: Path, fields: dict[str, str], words: str
) -> None:
    csrf = await login(client, "it_staff")
    status, page = await ask(client, csrf, **fields)
    assert status == 400 and words in page, page.split("</header>")[-1]
    assert 'class="verdict' not in page  # nothing decided
    assert "<script>alert" not in page and "\x00" not in page and "\u202e" not in page
    assert "x" * 9000 not in page  # a huge paste is not put back in the form


async def test_the_typed_user_name_is_neither_logged_nor_stored(
    client: TestClient[Any, Any], login: Any, store: Any, tuned: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    csrf = await login(client, "it_staff")
    caplog.set_level(logging.DEBUG)
    _, page = await ask(client, csrf, url="https://extremist.example/", user="pupil.heron77")
    assert "pupil.heron77" in page  # put back in the form, for the person who typed it
    assert "pupil.heron77" not in caplog.text
    database = Path(store.url.removeprefix("sqlite:///"))
    for path in [database, *database.parent.rglob("*")]:
        if path.is_file():
            assert b"pupil.heron77" not in path.read_bytes(), path
    # A GET never carries it: the form posts.
    assert (await client.get("/it/test-url?url=x&user=pupil.heron77")).status == 200


async def test_a_policy_change_is_tested_once_it_loads_and_a_broken_one_is_named(
    client: TestClient[Any, Any], login: Any, tuned: Path
) -> None:
    csrf = await login(client, "it_staff")
    url = "https://new-threat.example/"
    assert '<span class="act">allow</span>' in (await ask(client, csrf, url=url))[1]
    block = tuned.parent / "local" / "block.yaml"
    block.write_text(LOCAL_BLOCK + "  - new-threat.example\n", encoding="utf-8")
    assert '<span class="act">block</span>' in (await ask(client, csrf, url=url))[1]
    block.write_text(LOCAL_BLOCK + "  - {domain: '*'}\n  - later.example\n", encoding="utf-8")
    _, page = await ask(client, csrf, url=url)
    assert "their latest change is not in force" in page and "local/block.yaml:5" in page
    assert '<span class="act">block</span>' in page  # the last good policy still answers


@pytest.mark.parametrize("role", ["comms", "teacher"])
async def test_teachers_and_communications_staff_are_refused(
    client: TestClient[Any, Any], login: Any, store: Any, role: str
) -> None:
    if role == "teacher":
        with store.sessions() as session:
            store.passwords["teacher"] = add_user(
                session, "teacher", "teacher", actor="test", change_due=False
            )
            session.commit()
    csrf = await login(client, role)
    assert (await client.get("/it/test-url")).status == 403
    status, page = await ask(client, csrf, url="https://extremist.example/")
    assert status == 403 and "act" not in page.split("<main>")[-1][:200]
    home = await (await client.get("/account/password")).text()
    assert "/it/test-url" not in home  # not in the nav


async def test_the_answer_says_when_the_gateway_has_another_policy_in_force(
    client: TestClient[Any, Any], login: Any, store: Any, tuned: Path
) -> None:
    store.data_dir.mkdir(parents=True, exist_ok=True)
    status = store.data_dir / "gateway-status.json"
    now = datetime.now(UTC).isoformat()
    status.write_text(json.dumps({"written": now, "policy_version": "0ld0ld0ld0ld"}))
    csrf = await login(client, "it_staff")
    _, page = await ask(client, csrf, url="https://extremist.example/")
    assert "the gateway reports <code>0ld0ld0ld0ld</code> in force" in page
    assert "not this one yet" in page and 'href="/health"' in page
    tested = Policy.load(tuned).version
    status.write_text(json.dumps({"written": now, "policy_version": tested}))
    _, page = await ask(client, csrf, url="https://extremist.example/")
    assert f"the gateway reports <code>{tested}</code> in force" in page
    assert "not this one yet" not in page
