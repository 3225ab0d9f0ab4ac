"""`policy_version()` finds the same files as `Policy.load()` without compiling: the console
compares it with the version it last recorded, so it must agree exactly, includes too."""

from __future__ import annotations

import shutil
from pathlib import Path

from filters.policy import Policy
from filters.policyfiles import policy_files, policy_version

REPO = Path(__file__).resolve().parents[2]


def test_same_version_as_the_compiled_policy_for_the_shipped_and_test_policies() -> None:
    for path in (REPO / "blocklists/policy.yaml", REPO / "tests/data/policy/policy.yaml"):
        assert policy_version(path) == Policy.load(path).version


def test_included_files_count_and_a_change_in_one_changes_the_version(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(REPO / "blocklists", folder)
    included = folder / "local/more.weighted"
    included.write_text("<zorblax rally><30>\n", encoding="utf-8")
    top = folder / "local/page-phrases.weighted"
    top.write_text(top.read_text(encoding="utf-8") + ".Include<more.weighted>\n", encoding="utf-8")
    path = folder / "policy.yaml"
    assert included in policy_files(path)
    before = policy_version(path)
    assert before == Policy.load(path).version
    included.write_text("<zorblax rally><35>\n", encoding="utf-8")
    assert policy_version(path) != before
    assert policy_version(path) == Policy.load(path).version
