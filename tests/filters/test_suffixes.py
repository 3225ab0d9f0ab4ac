"""A public suffix can never be allowlisted or exempted whole (security review: after
allowlisting `com`, `cloudflare-dns.com` went from block to study)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from filters.policy import Policy, PolicyError
from filters.suffixes import site_of, too_broad

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["com", "co.uk", "test", "github.io", "sch.uk", "school"])
def test_suffixes_and_bare_labels_are_too_broad(value: str) -> None:
    assert too_broad(value)


@pytest.mark.parametrize("value", ["bbc.co.uk", "research.example", "www.bbc.co.uk", "10.0.0.5"])
def test_sites_are_not(value: str) -> None:
    assert too_broad(value) is None


def test_the_broadest_value_a_request_may_allow() -> None:
    assert site_of("www.bbc.co.uk") == "bbc.co.uk"


@pytest.fixture
def shipped(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "blocklists", tmp_path / "blocklists")
    return tmp_path / "blocklists"


def test_an_allowlisted_suffix_fails_validation_and_loading(shipped: Path) -> None:
    allow = shipped / "local" / "allow.yaml"
    allow.write_text("entries:\n  - com\n  - research.example\n", encoding="utf-8")
    problems = [str(p) for p in Policy.validate(shipped / "policy.yaml")]
    assert any("allow.yaml" in p and "'com' is a whole top-level domain" in p for p in problems)
    assert not any("research.example" in p for p in problems)
    with pytest.raises(PolicyError, match="top-level domain"):
        Policy.load(shipped / "policy.yaml")


def test_a_domains_file_allowlist_is_checked_too(shipped: Path) -> None:
    (shipped / "wide.domains").write_text("bbc.co.uk\nco.uk\n", encoding="utf-8")
    policy = shipped / "policy.yaml"
    policy.write_text(
        policy.read_text().replace("allowlist:\n", "allowlist:\n  - file: wide.domains\n", 1),
        encoding="utf-8",
    )
    problems = [str(p) for p in Policy.validate(policy)]
    assert any("wide.domains:2:" in p and "public suffix" in p for p in problems), problems
