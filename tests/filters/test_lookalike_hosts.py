"""Look-alike hosts (UTS #39 skeletons): a host that imitates a listed domain with letters from
another script is decided like that domain, and says so; real non-Latin names are left alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from filters.decision import Action
from filters.policy import Policy

POLICY = Path(__file__).resolve().parents[1] / "data" / "policy" / "policy.yaml"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(POLICY)


@pytest.mark.parametrize(
    "url",
    [
        "http://\u0435xtremist.test/",  # Cyrillic е
        "http://www.\u0435xtr\u0435mist.test/page",  # two of them, under a subdomain
        "https://extr\u0435mist.test/forum",
        "http://\u0435xtremist.test:8080/",
    ],
)
def test_a_lookalike_of_a_listed_domain_is_decided_like_it(policy: Policy, url: str) -> None:
    decision = policy.decide(url)
    assert decision.action is Action.BLOCK and decision.category == "extremism"
    assert decision.rule == "lookalike:extremist.test"
    assert "looks like extremist.test" in decision.reason


@pytest.mark.parametrize(
    "url", ["http://\u043a\u043d\u0438\u0433\u0430.test/", "http://bücher.example/", "http://extremism-studies.example/"]
)
def test_real_names_in_other_scripts_are_not_lookalikes(policy: Policy, url: str) -> None:
    assert policy.decide(url).action is Action.ALLOW


def test_a_lookalike_is_caught_on_the_host_only_path(tmp_path: Path) -> None:
    """Without expression or URL lists, no path can matter and decide() takes its per-host
    shortcut; a look-alike must be caught there too (it once passed: the shortcut read only
    the domain table)."""
    (tmp_path / "block.domains").write_text("extremist.test\n")
    (tmp_path / "policy.yaml").write_text(
        "categories:\n  extremism: {severity: high, action: block}\n"
        "lists:\n  - {file: block.domains, category: extremism}\n"
    )
    policy = Policy.load(tmp_path / "policy.yaml")
    for url in ("http://\u0435xtremist.test/", "http://xn--xtremist-b8g.test/a?id=1"):
        decision = policy.decide(url)
        assert decision.action is Action.BLOCK, url
        assert decision.rule == "lookalike:extremist.test"
    assert policy.decide_host("\u0435xtremist.test").rule == "lookalike:extremist.test"
    assert policy.decide("http://\u043a\u043d\u0438\u0433\u0430.test/").action is Action.ALLOW
