"""IT staff edit the policy in the real console (issue 15 item 2): add and remove entries of the
local block list and the study allowlists, change a group's category actions, each with a
reason, checked before it is saved, recorded as a policy version with its diff, live through
the gateway's hot reload; the history, rollback, changes made outside the console, and two IT
staff editing at once. Hostile input: tests/console/test_console_listedit_input.py."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from filters.live import LivePolicy
from filters.policy import Policy
from monitor.store.accounts import add_user
from monitor.store.models import PolicyRevision

Client = TestClient[Any, Any]


def versions(store: Any) -> list[PolicyRevision]:
    with store.sessions() as session:
        return list(session.scalars(select(PolicyRevision).order_by(PolicyRevision.number)))


async def text_of(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, (path, response.status)
    return await response.text()


def base_of(page: str) -> str:
    found = re.search(r'name="base" value="(\d*)"', page)
    assert found, page[:2000]
    return found.group(1)


async def add(client: Client, csrf: str, base: str, **fields: str) -> Any:
    data = {"csrf_token": csrf, "file": "local/block.yaml", "base": base, **fields}
    return await client.post("/it/lists/save", data=data, allow_redirects=False)


async def test_a_block_entry_is_saved_recorded_and_goes_live(
    client: Client, store: Any, login: Any
) -> None:
    live = LivePolicy.load(store.policy)
    assert live.current.decide("http://www.bad.example/").action.value == "allow"
    csrf = await login(client, "it_staff")
    page = await text_of(client, "/it/lists/edit?file=local/block.yaml")
    assert base_of(page) == "1" and "Preview what this would do" in page
    response = await add(
        client, csrf, "1", add_kind="domain", add_value="https://Bad.Example/",
        add_note="CTIRU ref 123", reason="Reported by the Prevent lead",
    )  # fmt: skip
    assert response.status == 303, await response.text()
    block = store.policy.parent / "local/block.yaml"
    assert yaml.safe_load(block.read_text())["entries"] == [
        {"domain": "bad.example", "note": "CTIRU ref 123"}
    ]
    assert block.read_text().startswith("# Local block list")  # its how-to comments stay
    result = live.reload()  # what the gateway's timer does
    assert result.changed and not result.failed
    decision = live.current.decide("http://www.bad.example/")
    assert decision.action.value == "block"
    assert decision.source.endswith("blocklists/local/block.yaml:12")
    first, second = versions(store)
    assert (first.kind, first.actor) == ("first", None)
    assert (second.kind, second.actor) == ("edit", "it.staff")
    assert second.reason == "Reported by the Prevent lead"
    assert second.policy_hash == live.current.version  # the version the gateway reports
    assert "+  - {domain: bad.example, note: CTIRU ref 123}" in second.diff
    page = await text_of(client, "/it/lists/edit?file=local/block.yaml")
    assert "Saved as version 2: added bad.example to local/block.yaml" in page
    assert "local/block.yaml:12" in page and base_of(page) == "2"


async def test_entries_are_removed_and_study_allowlist_entries_lift_a_block(
    client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "it_staff")
    await text_of(client, "/it/lists")
    assert (await add(client, csrf, "1", add_value="research.example", reason="r1")).status == 303
    assert (await add(client, csrf, "2", add_value="other.example", reason="r2")).status == 303
    response = await client.post(
        "/it/lists/save", allow_redirects=False,
        data={"csrf_token": csrf, "file": "local/allow.yaml", "base": "3",
              "add_kind": "url", "add_value": "https://research.example/unit/4",
              "add_note": "Year 12 history", "reason": "history unit"},
    )  # fmt: skip
    assert response.status == 303, await response.text()
    policy = Policy.load(store.policy)
    assert policy.decide("http://research.example/unit/4/page").action.value == "study"
    assert policy.decide("http://research.example/other").action.value == "block"
    page = await text_of(client, "/it/lists/edit?file=local/block.yaml")
    assert 'name="remove_12" value="research.example"' in page
    response = await add(client, csrf, "4", remove_12="research.example", reason="no longer")
    assert response.status == 303, await response.text()
    entries = yaml.safe_load((store.policy.parent / "local/block.yaml").read_text())["entries"]
    assert entries == ["other.example"]
    latest = versions(store)[-1]
    assert latest.summary == "removed research.example (local/block.yaml:12)"
    assert "-  - research.example" in latest.diff


async def test_a_groups_category_actions_change(client: Client, store: Any, login: Any) -> None:
    csrf = await login(client, "it_staff")
    page = await text_of(client, "/it/groups")
    assert 'name="action_circumvention"' in page and base_of(page) == "1"
    response = await client.post(
        "/it/groups/save", allow_redirects=False,
        data={"csrf_token": csrf, "group": "staff", "base": "1", "reason": "staff need VPNs",
              "action_extremism": "flag", "action_circumvention": "allow",
              "action_proscribed-organisations": "", "action_unlawful-terrorist-content": ""},
    )  # fmt: skip
    assert response.status == 303, await response.text()
    groups = yaml.safe_load(store.policy.read_text())["groups"]
    assert groups["staff"]["actions"] == {"extremism": "flag", "circumvention": "allow"}
    assert "# prevent-monitor: the default policy that ships." in store.policy.read_text()
    latest = versions(store)[-1]
    assert latest.summary == "group staff: circumvention: flag → allow"
    policy = Policy.load(store.policy)
    assert policy.decide("https://dns.google/dns-query", group="staff").action.value == "allow"
    assert policy.decide("https://dns.google/dns-query", group="pupils").action.value == "block"


async def test_the_history_shows_each_diff_and_a_rollback_is_a_version(
    client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "it_staff")
    await text_of(client, "/it/lists")
    await add(client, csrf, "1", add_value="bad.example", reason="add <b>it</b>")
    history = await text_of(client, "/it/policy/versions")
    assert "add &lt;b&gt;it&lt;/b&gt;" in history and "it.staff" in history
    detail = await text_of(client, "/it/policy/versions/2")
    assert '<span class="d-add">+  - bad.example</span>' in detail
    assert "Roll back to version 2" not in detail  # it is the version in force
    one = await text_of(client, "/it/policy/versions/1")
    assert "Roll back to version 1" in one
    data = {"csrf_token": csrf, "base": "2", "reason": ""}
    refused = await client.post("/it/policy/versions/1/rollback", data=data)
    assert refused.status == 400 and "Say why" in await refused.text()
    data["reason"] = "added by mistake"
    response = await client.post(
        "/it/policy/versions/1/rollback", data=data, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/it/policy/versions/3"
    assert yaml.safe_load((store.policy.parent / "local/block.yaml").read_text())["entries"] == []
    third = versions(store)[-1]
    assert (third.kind, third.rolled_back_to, third.reason) == ("rollback", 1, "added by mistake")
    assert "-  - bad.example" in third.diff
    page = await text_of(client, "/it/policy/versions/3")
    assert "Rolled back to version 1 as version 3." in page and "rolled back" in page
    again = await client.post("/it/policy/versions/1/rollback", data=dict(data, base="3"))
    assert again.status == 400 and "already say what version 1 said" in await again.text()


async def test_changes_by_hand_are_recorded_as_outside_the_console(
    client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "it_staff")
    page = await text_of(client, "/it/lists/edit?file=local/block.yaml")
    block = store.policy.parent / "local/block.yaml"
    block.write_text(block.read_text().replace("entries: []", "entries:\n  - by-hand.example\n"))
    history = await text_of(client, "/it/policy/versions")
    assert "changed outside the console" in history
    outside = versions(store)[-1]
    assert (outside.number, outside.kind, outside.actor) == (2, "outside", None)
    assert "+  - by-hand.example" in outside.diff
    response = await add(client, csrf, base_of(page), add_value="late.example", reason="late")
    assert response.status == 409
    said = await response.text()
    assert "someone outside the console changed the policy at" in said and "version 2" in said
    assert "late.example" not in block.read_text()
    assert (await text_of(client, "/it/policy/versions")).count("changed outside the console") >= 1
    assert len(versions(store)) == 2  # nothing more: the files are as version 2 recorded them


async def test_two_it_staff_cannot_silently_overwrite_each_other(
    client: Client, store: Any, login: Any
) -> None:
    with store.sessions() as session:
        other = add_user(session, "it.other", "it_staff", actor="test", change_due=False)
        session.commit()
    csrf = await login(client, "it_staff")
    base = base_of(await text_of(client, "/it/lists/edit?file=local/block.yaml"))
    await client.post("/logout", data={"csrf_token": csrf})
    token = re.search(r'name="form_token" value="([^"]+)"', await text_of(client, "/login"))
    assert token
    signed = await client.post(
        "/login", allow_redirects=False,
        data={"username": "it.other", "password": other, "form_token": token.group(1)},
    )  # fmt: skip
    assert signed.status == 303
    other_csrf = re.search(r'name="csrf_token" value="([^"]+)"', await text_of(client, "/it/lists"))
    assert other_csrf
    saved = await add(client, other_csrf.group(1), base, add_value="first.example", reason="mine")
    assert saved.status == 303
    await client.post("/logout", data={"csrf_token": other_csrf.group(1)})
    csrf = await login(client, "it_staff")
    late = await add(client, csrf, base, add_value="second.example", reason="also mine")
    assert late.status == 409
    said = await late.text()
    assert re.search(r"it\.other changed the policy at \d{4}-\d\d-\d\d \d\d:\d\d \(version 2", said)
    assert "second.example" in said  # what was typed is kept for another go
    text = (store.policy.parent / "local/block.yaml").read_text()
    assert "first.example" in text and "second.example" not in text
    assert base_of(said) == "2"  # now on top of the other's change, knowingly


async def test_a_rollback_that_would_not_load_is_refused_with_file_and_line(
    client: Client, store: Any, login: Any
) -> None:
    """Study exemptions are never rolled back (they can name pupils): a rollback that takes
    away a group an exemption names is refused, naming the exemption's file:line."""
    csrf = await login(client, "it_staff")
    await text_of(client, "/it/policy/versions")  # version 1
    policy = store.policy.read_text()
    store.policy.write_text(policy.replace("default_group:", "  year9: {}\n\ndefault_group:"))
    exemptions = store.policy.parent / "local/exemptions.yaml"
    exemptions.write_text(exemptions.read_text().replace("exemptions: []", (
        "exemptions:\n  - {id: y9, reason: r, approved_by: lead, groups: [year9],"
        " categories: [extremism], starts: 2026-01-05, ends: 2026-02-06}\n"
    )))  # fmt: skip
    await text_of(client, "/it/policy/versions")  # version 2, outside the console
    response = await client.post(
        "/it/policy/versions/1/rollback",
        data={"csrf_token": csrf, "base": "2", "reason": "undo the hand edit"},
    )
    assert response.status == 400
    said = await response.text()
    assert "Not rolled back: the policy would not load with this change" in said
    assert re.search(r"local/exemptions\.yaml:\d+: [^<]*year9", said), said[-3000:]
    assert "year9" in store.policy.read_text() and len(versions(store)) == 2


async def test_the_preview_button_stages_the_change_for_the_impact_preview(
    client: Client, store: Any, login: Any, monkeypatch: Any
) -> None:
    calls: list[tuple[dict[str, str], str, dict[str, str]]] = []

    async def start_preview(console: Any, proposed: Any, save_url: str, fields: Any) -> str:
        calls.append((proposed, save_url, fields))
        return "job-1"

    from monitor.console import listedit

    monkeypatch.setattr(listedit, "preview_hook", lambda: start_preview)
    csrf = await login(client, "it_staff")
    page = await text_of(client, "/it/lists/edit?file=local/block.yaml")
    assert 'formaction="/it/lists/preview"' in page
    before = (store.policy.parent / "local/block.yaml").read_text()
    fields = {"file": "local/block.yaml", "base": "1", "add_kind": "domain",
              "add_value": "preview.example", "add_note": "", "reason": "try it"}  # fmt: skip
    response = await client.post(
        "/it/lists/preview", data={"csrf_token": csrf, **fields}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/it/impact/job-1"
    ((proposed, save_url, save_fields),) = calls
    assert save_url == "/it/lists/save" and save_fields == fields
    block = store.policy.parent / "local/block.yaml"
    assert list(proposed) == ["local/block.yaml"]
    assert "preview.example" in proposed["local/block.yaml"]
    assert block.read_text() == before  # staged only
    data = {"csrf_token": csrf, **save_fields}
    saved = await client.post(save_url, data=data, allow_redirects=False)
    assert saved.status == 303 and "preview.example" in block.read_text()
    groups = await text_of(client, "/it/groups")
    assert 'formaction="/it/groups/preview"' in groups
    monkeypatch.setattr(listedit, "preview_hook", lambda: None)  # a console without previews
    assert 'formaction="/it/lists/preview"' not in await text_of(
        client, "/it/lists/edit?file=local/block.yaml"
    )


async def test_an_approved_unblock_request_is_a_version_and_the_annual_review_lists_all(
    client: Client, store: Any, login: Any, new_request: Any
) -> None:
    csrf = await login(client, "it_staff")
    request_id = new_request()
    response = await client.post(
        f"/unblock/{request_id}/approve", allow_redirects=False,
        data={"csrf_token": csrf, "mode": "allow", "allow_kind": "domain",
              "allow_value": "research.example", "note": "Year 12 history"},
    )  # fmt: skip
    assert response.status == 303
    _, approved = versions(store)
    assert (approved.kind, approved.actor) == ("unblock", "it.staff")
    assert approved.reason == "Year 12 history"
    assert approved.summary == f"unblock request {request_id}: allowlist research.example"
    await add(client, csrf, "2", add_value="bad.example", reason="CTIRU ref 9")
    block = store.policy.parent / "local/block.yaml"
    block.write_text(block.read_text() + "# a comment by hand\n")
    review = await text_of(client, "/annual-review")  # notices the hand edit itself
    for said in (
        "policy version 2 (unblock request approved)", "policy version 3 (edited in the console)",
        "policy version 4 (changed outside the console)", "CTIRU ref 9",
        "added bad.example to local/block.yaml",
    ):  # fmt: skip
        assert said in review, said
    assert review.count("unblock.approve") == 0  # the approval is its version, not twice
    csv = await (await client.get("/annual-review.csv")).text()
    assert "policy change,policy version 3 (edited in the console),added bad.example" in csv
    assert "why: CTIRU ref 9" in csv


async def test_roles_the_lead_reads_the_history_and_only_it_staff_edit(
    client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "prevent_lead")
    assert (await client.get("/it/policy/versions")).status == 200
    assert "Roll back" not in await text_of(client, "/it/policy/versions/1")
    for path in ("/it/lists", "/it/groups", "/it/lists/edit?file=local/block.yaml"):
        assert (await client.get(path)).status == 403, path
    for path in ("/it/lists/save", "/it/groups/save", "/it/policy/versions/1/rollback",
                 "/it/lists/preview"):  # fmt: skip
        response = await client.post(path, data={"csrf_token": csrf, "base": "1", "reason": "x"})
        assert response.status == 403, path
    await client.post("/logout", data={"csrf_token": csrf})
    await login(client, "comms")
    assert (await client.get("/it/policy/versions")).status == 403


def test_a_copy_of_the_test_policy_with_an_illegal_list_loads(tmp_path: Path) -> None:
    """The fixture the input tests use: a local YAML list of an illegal category."""
    folder = tmp_path / "blocklists"
    shutil.copytree(Path(__file__).resolve().parents[2] / "blocklists", folder)
    with_illegal_list(folder / "policy.yaml")
    policy = Policy.load(folder / "policy.yaml")
    assert policy.decide("http://unlawful.example/x").illegal


def with_illegal_list(policy: Path) -> None:
    (policy.parent / "local/ctiru.yaml").write_text(
        "category: unlawful-terrorist-content\nentries:\n  - unlawful.example\n"
    )
    text = policy.read_text()
    policy.write_text(text.replace(
        "  - {file: circumvention.domains, category: circumvention}\n",
        "  - {file: circumvention.domains, category: circumvention}\n"
        "  - {file: local/ctiru.yaml, category: unlawful-terrorist-content}\n",
    ))  # fmt: skip
