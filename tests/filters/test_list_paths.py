"""List files resolve inside the policy folder (or a `list_folders:` entry); absolute paths,
`..` and symlinks out are refused, and problems quote at most a short, sanitised excerpt."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from filters.lists import read_list
from filters.policy import Policy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "blocklists", tmp_path / "blocklists")
    return tmp_path / "blocklists"


def with_list(policy_dir: Path, file_value: str) -> Path:
    policy = policy_dir / "policy.yaml"
    text = policy.read_text().replace(
        "lists:\n", f"lists:\n  - {{file: {file_value}, category: extremism}}\n", 1
    )
    policy.write_text(text, encoding="utf-8")
    return policy


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink"])
def test_a_list_outside_the_policy_folder_is_refused(
    policy_dir: Path, tmp_path: Path, how: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:$6$hash:19000:0:99999:7:::\n")
    value = {"absolute": str(secret), "dotdot": "../secret.txt", "symlink": "linked.domains"}[how]
    if how == "symlink":
        os.symlink(secret, policy_dir / "linked.domains")
    problems = [str(p) for p in Policy.validate(with_list(policy_dir, value))]
    assert any("is outside the policy folder" in p for p in problems), problems
    assert not any("root:" in p for p in problems)  # the file was never read


def test_list_folders_names_extra_allowed_folders(policy_dir: Path, tmp_path: Path) -> None:
    imported = tmp_path / "imported"
    imported.mkdir()
    (imported / "ut1.domains").write_text("bad.test\n")
    policy = with_list(policy_dir, str(imported / "ut1.domains"))
    policy.write_text(f"list_folders: [{imported}]\n" + policy.read_text(), encoding="utf-8")
    assert Policy.validate(policy) == []


def test_problems_quote_a_short_sanitised_excerpt(tmp_path: Path) -> None:
    bad = tmp_path / "bad.domains"
    bad.write_text("x" * 300 + " \x1b[31mred\n", encoding="utf-8")
    (problem,) = read_list(bad, "domains").problems
    assert len(problem.reason) < 150 and "\x1b" not in problem.reason and "…" in problem.reason
