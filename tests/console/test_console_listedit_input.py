"""Every field of the list and group forms is hostile (issue 15, bad input): each bad value is
refused through the real console with the reason, and saves nothing (the files and the policy
history are as they were). Public suffixes are never allowlisted and no illegal category is
lifted, for any group."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.console.test_console_listedit import text_of, versions, with_illegal_list

Client = TestClient[Any, Any]
LONG = "a" * 4000 + ".example"

LIST_CASES: list[tuple[dict[str, str], str]] = [
    ({"reason": ""}, "Say why"),
    ({"reason": "   \n  "}, "Say why"),
    ({"reason": "r" * 501}, "longer than 500 characters"),
    ({"reason": "ok\x00then"}, "U+0000"),
    ({"reason": "looks fine \u202etxt.exe"}, "U+202E"),
    ({"add_note": "n" * 201}, "longer than 200 characters"),
    ({"add_note": "one\ntwo"}, "U+000A"),
    ({"add_value": "javascript:alert(1)"}, "&#39;javascript&#39; addresses cannot be listed"),
    ({"add_kind": "url", "add_value": "javascript:alert(1)//x"}, "begins &#34;javascript:&#34;"),
    ({"add_kind": "url", "add_value": "data:text/html,<b>x</b>"}, "Only web addresses (http://"),
    ({"add_kind": "url", "add_value": "https://\u200bbad.example/a"}, "invisible character"),
    ({"add_value": "a..b.example"}, "is not a valid site name"),
    ({"add_value": "exa mple.example"}, "no spaces"),
    ({"add_value": "\u200bbad.example"}, "no spaces or control characters"),
    ({"add_value": "bad.example/forum"}, "not a site name"),
    ({"add_value": "https://bad.example/forum/12"}, "That is one page"),
    ({"add_kind": "url", "add_value": "https://bad.example/"}, "That is the whole site"),
    ({"add_value": LONG}, "no spaces or control characters"),
    ({"add_kind": "regex", "add_value": ".*"}, "Choose whether to add a whole site"),
    ({"add_category": "no-such-category"}, "There is no category"),
    ({"file": "../../etc/passwd"}, "cannot be edited here"),
    ({"file": "local/exemptions.yaml"}, "cannot be edited here"),
    ({"file": "/etc/passwd"}, "cannot be edited here"),
    ({"base": "1 OR 1=1"}, "not a number"),
    ({"add_value": "", "remove_12": "not-there.example"}, "is no longer"),
    ({"remove_x12": "bad.example"}, "not named by its line"),
    ({"add_value": ""}, "Nothing to change"),
]


@pytest.fixture
async def it_staff(client: Client, login: Any) -> str:
    csrf = await login(client, "it_staff")
    await text_of(client, "/it/lists")  # version 1: the files as the console found them
    return str(csrf)


async def post(client: Client, path: str, data: dict[str, str]) -> tuple[int, str]:
    response = await client.post(path, data=data, allow_redirects=False)
    return response.status, await response.text()


def files_of(store: Any) -> dict[str, str]:
    folder = store.policy.parent
    return {p.name: p.read_text() for p in [store.policy, *folder.glob("local/*.yaml")]}


@pytest.mark.parametrize(("fields", "said"), LIST_CASES)
async def test_a_bad_list_field_is_refused_and_saves_nothing(
    client: Client, store: Any, it_staff: str, fields: dict[str, str], said: str
) -> None:
    before = files_of(store)
    data = {"csrf_token": it_staff, "file": "local/block.yaml", "base": "1",
            "add_kind": "domain", "add_value": "fine.example", "reason": "a reason", **fields}
    status, page = await post(client, "/it/lists/save", data)
    assert status in (400, 404), (status, page[-1500:])
    assert said in page, page[page.find("<main>"):][:1500]
    assert files_of(store) == before and len(versions(store)) == 1


async def test_an_entry_already_listed_is_refused(
    client: Client, store: Any, it_staff: str
) -> None:
    data = {"csrf_token": it_staff, "file": "local/block.yaml", "base": "1",
            "add_value": "twice.example", "reason": "first"}  # fmt: skip
    assert (await post(client, "/it/lists/save", data))[0] == 303
    status, page = await post(client, "/it/lists/save", dict(data, base="2"))
    assert status == 400 and "twice.example is already on this list (local/block.yaml:12)" in page
    assert len(versions(store)) == 2


@pytest.mark.parametrize(
    ("kind", "value", "said"),
    [
        ("domain", "co.uk", "&#39;co.uk&#39; is a public suffix"),
        ("domain", "*.github.io", "&#39;github.io&#39; is a public suffix"),
        ("domain", "test", "&#39;test&#39; is a whole top-level domain"),
        ("url", "https://co.uk/anything", "&#39;co.uk&#39; is a public suffix"),
    ],
)
async def test_a_public_suffix_is_never_allowlisted(
    client: Client, store: Any, it_staff: str, kind: str, value: str, said: str
) -> None:
    before = files_of(store)
    data = {"csrf_token": it_staff, "file": "local/allow.yaml", "base": "1", "add_kind": kind,
            "add_value": value, "reason": "needed for lessons"}  # fmt: skip
    status, page = await post(client, "/it/lists/save", data)
    assert status == 400 and said in page and "Not allowlisted" in page
    assert files_of(store) == before and len(versions(store)) == 1


async def test_an_illegal_category_is_never_lifted(
    client: Client, store: Any, login: Any
) -> None:
    with_illegal_list(store.policy)
    csrf = await login(client, "it_staff")
    page = await text_of(client, "/it/lists/edit?file=local/ctiru.yaml")
    assert 'name="remove_' not in page  # nothing to tick on an illegal list
    before = files_of(store)
    attempts = [
        ("/it/lists/save", {"file": "local/allow.yaml", "add_value": "www.unlawful.example"},
         "marked illegal: true. Nothing lifts unlawful content"),
        ("/it/lists/save", {"file": "local/ctiru.yaml", "add_value": "", "remove_3":
                            "unlawful.example"}, "nothing is taken off it here"),
    ] + [
        ("/it/groups/save", {"group": group, "action_unlawful-terrorist-content": action},
         "No group setting can lift unlawful-terrorist-content")
        for group in ("pupils", "staff") for action in ("allow", "study", "flag")
    ]  # fmt: skip
    for path, fields, said in attempts:
        data = {"csrf_token": csrf, "base": "1", "reason": "please", **fields}
        status, text = await post(client, path, data)
        assert status == 400 and said in text, (path, fields, text[text.find("<main>"):][:800])
    assert files_of(store) == before and len(versions(store)) == 1
    groups = await text_of(client, "/it/groups")
    row = groups[groups.find('name="action_unlawful-terrorist-content"'):][:600]
    assert 'value="allow"' not in row.split("</select>")[0]  # only default or block offered


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"group": "no-such-group"}, "There is no such group"),
        ({"action_extremism": "permit"}, "Choose one of block, flag, study, allow"),
        ({"action_no-such-category": "block"}, "There is no category"),
        ({"action_extremism": "flag", "action_circumvention": "flag"}, "Nothing to change"),
        ({"reason": ""}, "Say why"),
        ({"reason": "\x1b[31mred"}, "U+001B"),
    ],
)
async def test_a_bad_group_field_is_refused(
    client: Client, store: Any, it_staff: str, fields: dict[str, str], said: str
) -> None:
    before = files_of(store)
    data = {"csrf_token": it_staff, "group": "staff", "base": "1", "reason": "a reason",
            "action_extremism": "flag", "action_circumvention": "block", **fields}  # fmt: skip
    status, page = await post(client, "/it/groups/save", data)
    assert status == 400 and said in page, page[page.find("<main>"):][:1000]
    assert files_of(store) == before and len(versions(store)) == 1


async def test_rollback_fields_are_checked(client: Client, store: Any, it_staff: str) -> None:
    data = {"csrf_token": it_staff, "file": "local/block.yaml", "base": "1",
            "add_value": "a.example", "reason": "add"}  # fmt: skip
    assert (await post(client, "/it/lists/save", data))[0] == 303
    before = files_of(store)
    for fields, status, said in [
        ({"base": "2", "reason": "undo\x07"}, 400, "U+0007"),
        ({"base": "1", "reason": "undo"}, 409, "it.staff changed the policy at"),
        ({"base": "two", "reason": "undo"}, 400, "not a number"),
    ]:
        data = {"csrf_token": it_staff, **fields}
        got, page = await post(client, "/it/policy/versions/1/rollback", data)
        assert (got, said in page) == (status, True), page[page.find("<main>"):][:800]
    assert (await client.get("/it/policy/versions/99")).status == 404
    assert (await client.get("/it/policy/versions/99999999999")).status == 404
    no_csrf = await client.post("/it/policy/versions/1/rollback", data={"base": "2", "reason": "x"})
    assert no_csrf.status == 403
    assert files_of(store) == before and len(versions(store)) == 2


async def test_markup_in_a_note_and_a_reason_stays_text(
    client: Client, store: Any, it_staff: str
) -> None:
    nasty = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    data = {"csrf_token": it_staff, "file": "local/block.yaml", "base": "1",
            "add_value": "a.example", "add_note": nasty[:200], "reason": nasty}  # fmt: skip
    assert (await post(client, "/it/lists/save", data))[0] == 303
    for path in ("/it/lists/edit?file=local/block.yaml", "/it/policy/versions",
                 "/it/policy/versions/2", "/annual-review"):  # fmt: skip
        page = await text_of(client, path)
        assert "<script>alert(1)" not in page and "<img src=x" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path


async def test_a_rollback_never_lifts_an_illegal_category(
    client: Client, store: Any, login: Any
) -> None:
    """Rolling back to a version from before the CTIRU list grew, or before a category was
    marked illegal, would lift unlawful content: refused, and nothing is written."""
    with_illegal_list(store.policy)
    csrf = await login(client, "it_staff")
    await text_of(client, "/it/policy/versions")  # version 1
    ctiru = store.policy.parent / "local/ctiru.yaml"
    ctiru.write_text(ctiru.read_text() + "  - newly-listed.example\n")  # a new import
    await text_of(client, "/it/policy/versions")  # version 2, outside the console
    policy = store.policy.read_text()
    # extremism, the first category, is now marked illegal
    store.policy.write_text(policy.replace(
        "    severity: high\n    action: block\n", "    severity: high\n    action: block\n"
        "    illegal: true\n", 1,
    ))  # fmt: skip
    await text_of(client, "/it/policy/versions")  # version 3
    before = files_of(store)
    for number, said in [
        (2, "categories.extremism: would no longer be marked illegal: true"),
        (1, "would take 1 entries off this list of unlawful-terrorist-content"),
    ]:
        data = {"csrf_token": csrf, "base": "3", "reason": "back to how it was"}
        status, page = await post(client, f"/it/policy/versions/{number}/rollback", data)
        assert status == 400 and said in page, page[page.find("<main>"):][:1500]
        assert "would lift a category marked illegal" in page
    assert "newly-listed.example" in page
    assert files_of(store) == before and len(versions(store)) == 3
