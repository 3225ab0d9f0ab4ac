"""Editing the policy's YAML as text (`monitor.console.policytext`) and writing it only after the
policy is checked (`monitor.console.policyedit.write_checked`): one line changes, comments
stay, an unusual layout is refused rather than rewritten, and a change that would not load
writes nothing and names the real file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from filters.policy import Policy
from monitor.console.policyedit import PolicyEditError, write_checked
from monitor.console.policytext import add_entry, remove_entry, render, set_group_actions

REPO = Path(__file__).resolve().parents[2]


def changed_lines(old: str, new: str) -> tuple[set[str], set[str]]:
    a, b = old.splitlines(), new.splitlines()
    return set(a) - set(b), set(b) - set(a)


def test_add_and_remove_change_one_line_and_keep_comments() -> None:
    text = (REPO / "blocklists/local/block.yaml").read_text()
    added = add_entry(text, {"domain": "bad.example", "note": "CTIRU ref: 12 # not a comment"})
    assert changed_lines(text, added) == (
        {"entries: []"},
        {"entries:", "  - {domain: bad.example, note: 'CTIRU ref: 12 # not a comment'}"},
    )
    assert yaml.safe_load(added)["entries"][0]["note"] == "CTIRU ref: 12 # not a comment"
    two = add_entry(added, {"url": "forum.example/t/12"})
    assert two.startswith(text.split("category:")[0])  # the how-to comments are kept
    one = remove_entry(two, len(two.splitlines()) - 1)
    assert yaml.safe_load(one)["entries"] == [{"url": "forum.example/t/12"}]
    assert remove_entry(one, len(one.splitlines())) == text  # back to `entries: []`


def test_shapes_of_lists_and_groups() -> None:
    assert add_entry("entries: [a.test]\n", "b.test") == "entries: [a.test, b.test]\n"
    assert add_entry("entries:\n- a.test", "b.test") == "entries:\n- a.test\n- b.test\n"
    assert add_entry("", "b.test") == "entries:\n  - b.test\n"
    assert add_entry("category: x\nentries:\n", "b.test") == "category: x\nentries:\n  - b.test\n"
    kept = remove_entry("entries:\n  - domain: a.test\n    note: x\n  # keep\n  - b.test\n", 2)
    assert kept == "entries:\n  # keep\n  - b.test\n"
    policy = (REPO / "tests/data/policy/policy.yaml").read_text()
    out = set_group_actions(policy, "pupils", {"social": "block"})  # `pupils: {}`
    out = set_group_actions(out, "year13", {"social": "block"})  # block mapping, no actions
    out = set_group_actions(out, "staff", {})  # flow actions replaced
    groups = yaml.safe_load(out)["groups"]
    assert groups["pupils"] == {"actions": {"social": "block"}}
    assert groups["year13"]["actions"] == {"social": "block"}
    assert groups["staff"]["actions"] == {} and groups["staff"]["users"] == ["teacher1"]
    assert set_group_actions("groups:\n  a:\n  b: 1\n", "a", {"x": "flag"}) == (
        "groups:\n  a: {actions: {x: flag}}\n  b: 1\n"
    )


@pytest.mark.parametrize(
    "text", ["entries: a.test\n", "- x\n", "entries: {a: b}\n", "entries: [a\n"]
)
def test_layouts_a_line_edit_cannot_handle_are_refused(text: str) -> None:
    with pytest.raises(PolicyEditError):
        add_entry(text, "c.test")


def test_a_value_that_would_take_two_lines_is_refused() -> None:
    with pytest.raises(PolicyEditError, match="line breaks"):
        render({"domain": "a.test", "note": "one\ntwo"})


def test_a_change_that_would_not_load_writes_nothing_and_names_the_real_file(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "blocklists"
    shutil.copytree(REPO / "blocklists", folder)
    policy = folder / "policy.yaml"
    block = folder / "local/block.yaml"
    before = block.read_text()
    bad = before.replace("entries: []", "entries:\n  - {regex: '(?<=x)y'}")
    with pytest.raises(PolicyEditError) as caught:
        write_checked(policy, {block: bad})
    assert block.read_text() == before
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # the copy is gone
    assert any("local/block.yaml:" in p and ".pm-check" not in p for p in caught.value.problems)
    good = before.replace("entries: []", "entries:\n  - {domain: x.example}")
    write_checked(policy, {block: good})
    assert block.read_text() == good
    assert Policy.validate(policy) == []
    assert (folder / "circumvention.domains").stat().st_nlink == 1  # no hard link left behind


def test_files_outside_the_policy_folder_are_never_written(tmp_path: Path) -> None:
    folder = tmp_path / "blocklists"
    shutil.copytree(REPO / "blocklists", folder)
    with pytest.raises(PolicyEditError, match="outside the policy folder"):
        write_checked(folder / "policy.yaml", {tmp_path / "elsewhere.yaml": "entries: []\n"})
    assert not (tmp_path / "elsewhere.yaml").exists()
