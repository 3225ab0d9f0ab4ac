"""A school's console when the school's policy extends the trust's (issue 16: "the policy can be
shared by the trust, with per-school local lists layered on top"): the trust's lists are shown
and not editable, the school's own lists are edited as before (checked against the trust's
floor), and a change that would loosen what the trust set is refused with the line that says so.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from filters.policy import Policy

Client = TestClient[Any, Any]

TRUST = """\
school: Fictional Learning Trust
categories:
  trust-hate: {description: Hate material the trust blocks, severity: high, action: block}
lists:
  - {file: trust-hate.yaml, category: trust-hate}
groups:
  sixth-form:
    directory_groups: [year12, year13]
    actions: {trust-hate: flag}
"""


@pytest.fixture
def trust(store: Any) -> Path:
    """The trust's folder beside the school's (`blocklists/`), and the school extending it."""
    folder = store.policy.parent.parent / "trust"
    folder.mkdir()
    (folder / "policy.yaml").write_text(TRUST, encoding="utf-8")
    (folder / "trust-hate.yaml").write_text("entries:\n  - {domain: trust-hate.test}\n")
    text = store.policy.read_text(encoding="utf-8")
    store.policy.write_text("extends: ../trust/policy.yaml\n" + text, encoding="utf-8")
    assert Policy.validate(store.policy) == []
    return folder


async def page(client: Client, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, (path, response.status)
    return await response.text()


def base_of(text: str) -> str:
    found = re.search(r'name="base" value="(\d*)"', text)
    assert found, text[:2000]
    return found.group(1)


async def test_the_trusts_lists_are_shown_and_not_editable(
    trust: Path, client: Client, login: Any
) -> None:
    await login(client, "it_staff")
    text = await page(client, "/it/lists")
    shared = text.split("Shared by the trust", 1)[1]
    assert "trust-hate.yaml" in shared and "Blocks as <strong>trust-hate</strong>" in shared
    assert "/it/lists/edit?file=" not in shared  # shown, never offered for editing
    response = await client.get("/it/lists/edit?file=../trust/trust-hate.yaml")
    assert response.status == 404
    groups = await page(client, "/it/groups")
    assert 'name="action_trust-hate"' in groups


async def test_the_schools_own_list_is_edited_against_the_trusts_floor(
    trust: Path, client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "it_staff")
    base = base_of(await page(client, "/it/lists/edit?file=local/block.yaml"))
    response = await client.post(
        "/it/lists/save", allow_redirects=False,
        data={"csrf_token": csrf, "file": "local/block.yaml", "base": base,
              "add_kind": "domain", "add_value": "local-bad.example", "add_note": "",
              "reason": "the school's own entry", "add_category": ""},
    )  # fmt: skip
    assert response.status == 303, await response.text()
    policy = Policy.load(store.policy)
    assert policy.decide("http://local-bad.example/").action.value == "block"
    assert policy.decide("http://trust-hate.test/").action.value == "block"
    # The check ran in a copy that keeps the trust beside the school, and left nothing behind.
    assert not [p for p in store.policy.parent.iterdir() if p.name.startswith(".pm-check-")]


async def test_loosening_what_the_trust_set_is_refused_with_the_line(
    trust: Path, client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "it_staff")
    before = store.policy.read_text()
    base = base_of(await page(client, "/it/groups"))
    response = await client.post(
        "/it/groups/save", allow_redirects=False,
        data={"csrf_token": csrf, "group": "staff", "base": base, "reason": "staff research",
              "action_extremism": "flag", "action_circumvention": "flag",
              "action_trust-hate": "flag"},
    )  # fmt: skip
    text = await response.text()
    assert response.status == 400, re.sub(r"\s+", " ", re.sub("<[^>]+>", " ", text))[-3000:]
    assert "groups.staff.actions.trust-hate" in text and "never loosen" in text
    assert "trust/policy.yaml" in text and ".pm-check-" not in text
    assert "blocklists/policy.yaml:64: groups.staff" in text  # the school's own line
    assert 'id="group-default"' not in text  # the trust's made-up default group is not one
    assert store.policy.read_text() == before
    # Tightening is the school's to do.
    response = await client.post(
        "/it/groups/save", allow_redirects=False,
        data={"csrf_token": csrf, "group": "staff", "base": base, "reason": "stricter",
              "action_extremism": "block", "action_circumvention": "flag",
              "action_trust-hate": "block"},
    )  # fmt: skip
    assert response.status == 303, (await response.text())[:500]
    staff = yaml.safe_load(store.policy.read_text())["groups"]["staff"]
    assert staff["actions"]["extremism"] == "block"


async def test_a_group_the_trust_gives_the_school_is_edited_in_the_schools_file(
    trust: Path, client: Client, store: Any, login: Any
) -> None:
    csrf = await login(client, "it_staff")
    text = await page(client, "/it/groups")
    assert 'id="group-sixth-form"' in text
    base = base_of(text)
    form = {"csrf_token": csrf, "group": "sixth-form", "base": base, "reason": "exam season"}
    response = await client.post(
        "/it/groups/save", data={**form, "action_trust-hate": ""}, allow_redirects=False
    )
    refused = await response.text()
    assert response.status == 400
    assert "trust-hate for sixth-form is set by the trust&#39;s policy" in refused
    response = await client.post(
        "/it/groups/save", allow_redirects=False,
        data={**form, "action_trust-hate": "block", "action_extremism": "flag"},
    )  # fmt: skip
    assert response.status == 303, (await response.text())[:500]
    groups = yaml.safe_load(store.policy.read_text())["groups"]
    assert groups["sixth-form"] == {"actions": {"trust-hate": "block", "extremism": "flag"}}
    assert "staff" in groups and "pupils" in groups  # the school's own groups are untouched
    policy = Policy.load(store.policy)
    year12 = policy.decide("http://trust-hate.test/", directory_groups=["year12"])
    assert year12.action.value == "block" and policy.spec.held == []
