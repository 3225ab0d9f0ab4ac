"""An entry's own category and severity must be the policy's: a misspelt category would block
under a category no group's actions name, at the default severity, and the allowlist could lift
it even where the category meant was illegal. Loading and `lists validate` refuse it alike,
naming file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from filters.policy import Policy, PolicyError

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "blocklists", tmp_path / "blocklists")
    return tmp_path / "blocklists"


def problems_of(policy: Path) -> list[str]:
    found = [str(p) for p in Policy.validate(policy)]
    with pytest.raises(PolicyError) as raised:
        Policy.load(policy)
    assert sorted(str(p) for p in raised.value.problems) == sorted(found)  # the same refusals
    return found


def test_a_misspelt_category_on_a_block_entry_is_refused_with_its_line(shipped: Path) -> None:
    (shipped / "local" / "block.yaml").write_text(
        "category: extremism\nentries:\n  - fine.example\n"
        "  - {domain: x.example, category: unlawful-terorist-content}\n",
        encoding="utf-8",
    )
    problems = problems_of(shipped / "policy.yaml")
    assert len(problems) == 1, problems
    assert problems[0].endswith(
        "local/block.yaml:4: unknown category 'unlawful-terorist-content': use one of the "
        "policy's categories (circumvention, extremism, extremist-language, ip-literal, "
        "malformed-host, obfuscated-ip, proscribed-organisations, unlawful-terrorist-content), "
        "or declare it under categories: in the policy file"
    ), problems


def test_the_policys_category_for_a_list_comes_before_the_files_own(shipped: Path) -> None:
    """A file's top-level `category:` is a default for where the policy names none: here the
    policy says extremism, so the file's (misspelt) one is never used and is no problem."""
    (shipped / "local" / "block.yaml").write_text(
        "category: extremsim\nentries:\n  - a.example\n  - {domain: b.example}\n",
        encoding="utf-8",
    )
    assert Policy.validate(shipped / "policy.yaml") == []
    policy = Policy.load(shipped / "policy.yaml")
    assert [policy.decide(f"https://{h}.example/").category for h in "ab"] == ["extremism"] * 2


def test_a_files_own_unknown_category_is_refused_where_it_is_used(shipped: Path) -> None:
    policy = shipped / "policy.yaml"
    text = policy.read_text(encoding="utf-8")
    named = "  - {file: local/search-terms.yaml, category: extremism}\n"
    assert named in text
    policy.write_text(text.replace(named, "  - {file: local/search-terms.yaml}\n"))
    (shipped / "local" / "search-terms.yaml").write_text(
        "# terms\ncategory: extremsim\nentries:\n  - {phrase: example phrase}\n",
        encoding="utf-8",
    )
    problems = problems_of(policy)
    assert len(problems) == 1 and "search-terms.yaml:2: unknown category 'extremsim'" in problems[0]


def test_search_terms_are_checked_too_and_a_bad_severity_is_named(shipped: Path) -> None:
    (shipped / "local" / "search-terms.yaml").write_text(
        "category: extremism\nentries:\n"
        "  - {phrase: example phrase, severity: hgih}\n"
        "  - {phrase: other phrase, category: no-such}\n",
        encoding="utf-8",
    )
    problems = problems_of(shipped / "policy.yaml")
    assert any(
        p.endswith("search-terms.yaml:3: unknown severity 'hgih': use one of none, low, medium, "
                   "high, critical") for p in problems
    ), problems  # fmt: skip
    assert any("search-terms.yaml:4: unknown category 'no-such'" in p for p in problems)
    assert len(problems) == 2, problems


def test_declared_categories_and_severities_still_load(shipped: Path) -> None:
    (shipped / "local" / "block.yaml").write_text(
        "category: extremism\nentries:\n"
        "  - {domain: x.example, category: circumvention}\n"
        "  - {domain: y.example, category: unlawful-terrorist-content}\n",
        encoding="utf-8",
    )
    (shipped / "local" / "search-terms.yaml").write_text(
        "category: extremism\nentries:\n  - {phrase: example phrase, severity: High}\n",
        encoding="utf-8",
    )
    assert Policy.validate(shipped / "policy.yaml") == []
    decision = Policy.load(shipped / "policy.yaml").decide("https://y.example/")
    assert (decision.category, decision.illegal) == ("unlawful-terrorist-content", True)
