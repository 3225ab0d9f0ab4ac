"""`Policy.verdict_by_host` (the Squid helper's answer) is `decide()`'s action, category and rule,
and `decide()` is the same `Decision` as one made without what was learnt, for every host, group
and user, whatever order the hosts are asked in: what a list's hit was learnt to mean on one
host is never given to a host the allowlist or a study exemption treats otherwise."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filters.decision import Action, Decision
from filters.policy import Policy

POLICY = """\
school: Fictional Example Academy
timezone: Europe/London
categories:
  games: {severity: low, action: block, description: Online games}
  chat: {severity: low, action: flag}
  unlawful: {severity: critical, action: block, illegal: true}
  watched: {severity: medium, action: block}
lists:
  - {file: games.domains, category: games}
  - {file: chat.domains, category: chat}
  - {file: unlawful.domains, category: unlawful}
  - {file: watched.domains, category: watched}
  - {file: twice.domains, category: chat}
allowlist:
  - {file: allow.yaml}
groups:
  pupils: {}
  year13: {networks: [10.13.0.0/16]}
  staff: {users: [teacher1], actions: {games: allow, chat: study}}
default_group: pupils
exemptions:
  - id: y13-games-site
    reason: "Year 13 Computing: a games design unit"
    approved_by: P. Lead (DSL)
    groups: [year13]
    sites: [design.games.example]
    starts: 2026-11-02
    ends: 2026-12-18
  - id: watched-unit
    reason: "Year 13 Citizenship"
    approved_by: P. Lead (DSL)
    groups: [year13]
    categories: [watched]
    starts: 2026-11-02
    ends: 2026-12-18
"""
FILES = {
    "games.domains": "games.example\nboth.example\n",
    "chat.domains": "chat.example\n",
    "unlawful.domains": "unlawful.example\n",
    "watched.domains": "watched.example\n",
    "twice.domains": "both.example\n",  # two lists cover both.example: two hits
    "allow.yaml": "entries:\n  - {domain: study.games.example}\n"
    "  - {domain: lesson.unlawful.example}\n  - {domain: help.chat.example}\n",
}
HOSTS = [
    f"{sub}{base}"
    for base in (
        "games.example", "chat.example", "unlawful.example", "watched.example", "both.example"
    )
    for sub in ("", "www.", "study.", "design.", "lesson.", "help.")
] + ["fine.example", "www.fine.example"]
WHO = [(None, "10.0.0.1"), ("teacher1", "10.0.0.1"), (None, "10.13.0.9"), ("pupil9", "10.13.2.2")]
WHEN = [datetime(2026, 11, 24, 10, tzinfo=UTC), datetime(2027, 1, 9, 10, tzinfo=UTC)]


@pytest.fixture
def policy_path(tmp_path: Path) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text)
    (tmp_path / "policy.yaml").write_text(POLICY)
    return tmp_path / "policy.yaml"


@pytest.mark.parametrize("seed", range(6))
def test_the_verdict_is_the_decision_in_any_order(policy_path: Path, seed: int) -> None:
    fast, full = Policy.load(policy_path), Policy.load(policy_path)
    asked = list(itertools.product(HOSTS, WHO, WHEN))
    random.Random(seed).shuffle(asked)
    for host, (user, client), when in asked * 2:  # the second time from what the first learnt
        group = fast.group_for(user, (), client)
        verdict = fast.verdict_by_host(host, group, user, when)
        decision = _unlearnt(full, f"http://{host}/", user, client, when)
        url = f"https://{host}/page"
        assert fast.decide(url, user=user, client_ip=client, when=when) == _unlearnt(
            full, url, user, client, when
        ), (host, user, client, when)
        assert verdict is not None, host
        where = (host, user, client, when)
        assert verdict.action is decision.action, where
        if decision.action is not Action.ALLOW:
            assert (verdict.category, verdict.rule) == (decision.category, decision.rule), where
    assert fast._learnt  # what the lists' hits mean was learnt and used


def _unlearnt(
    policy: Policy, url: str, user: str | None, client: str, when: datetime
) -> Decision:
    """`decide()` from nothing learnt or kept before."""
    policy._learnt.clear()
    policy._answers.clear()
    return policy.decide(url, user=user, client_ip=client, when=when)


def test_a_learnt_verdict_is_not_given_to_an_allowlisted_or_exempted_host(
    policy_path: Path,
) -> None:
    policy = Policy.load(policy_path)
    when = datetime(2026, 11, 24, 10, tzinfo=UTC)
    assert policy.verdict_by_host("www.games.example", "pupils", None, when).action is Action.BLOCK
    assert policy.verdict_by_host("www.games.example", "year13", None, when).action is Action.BLOCK
    assert policy.verdict_by_host("study.games.example", "pupils", None, when).action is (
        Action.STUDY
    )
    exempted = policy.verdict_by_host("design.games.example", "year13", None, when)
    assert exempted.action is Action.STUDY and not exempted.kept
    # The illegal category: learnt from one host, and the allowlist cannot lift it.
    assert policy.verdict_by_host("unlawful.example", "staff", None, when).action is Action.BLOCK
    lesson = policy.verdict_by_host("lesson.unlawful.example", "staff", None, when)
    assert lesson.action is Action.BLOCK and lesson.kept


def test_a_study_page_on_a_listed_site_is_lifted_and_the_rest_of_the_site_is_not(
    tmp_path: Path,
) -> None:
    """An allowlisted URL prefix lifts only its pages, so the site's path matters: no answer for
    the site is kept or learnt from the host alone, before or after the study page is asked."""
    (tmp_path / "games.domains").write_text("games.example\nplay.example\n")
    (tmp_path / "allow.yaml").write_text("entries:\n  - {url: games.example/lessons}\n")
    (tmp_path / "policy.yaml").write_text(
        "school: Fictional Example Academy\n"
        "categories:\n  games: {severity: low, action: block}\n"
        "lists:\n  - {file: games.domains, category: games}\n"
        "allowlist:\n  - {file: allow.yaml}\n"
    )
    policy = Policy.load(tmp_path / "policy.yaml")
    assert policy.decide("https://play.example/x").action is Action.BLOCK  # learnt: games blocks
    assert policy.decide("https://games.example/arcade").action is Action.BLOCK
    assert policy.decide("https://games.example/lessons/1").action is Action.STUDY
    assert policy.decide("https://games.example/arcade").action is Action.BLOCK
    assert policy.verdict_by_host("games.example", "default") is None  # decide it in full
    assert policy.verdict_by_host("play.example", "default").action is Action.BLOCK



def test_decisions_built_in_field_order_name_their_fields(policy_path: Path) -> None:
    """`Precedence._decided` and `_allow` build a `Decision` from its fields in order (not by
    keyword): each value lands in the field that names it."""
    policy = Policy.load(policy_path)
    when = datetime(2026, 11, 24, 10, tzinfo=UTC)
    blocked = policy.decide("http://unlawful.example/page", user="pupil9", when=when)
    assert (blocked.action, blocked.host, blocked.category) == (
        Action.BLOCK, "unlawful.example", "unlawful"
    )  # fmt: skip
    assert blocked.url == "http://unlawful.example/page"
    assert blocked.rule == "domain:unlawful.example"
    assert blocked.source == f"{policy_path.parent / 'unlawful.domains'}:1"
    assert blocked.reason.startswith("unlawful.example is listed as unlawful")
    assert (blocked.group, blocked.policy_version) == ("pupils", policy.version)
    assert blocked.illegal is True and blocked.matched == () and blocked.exemption is None
    assert blocked.via is None and blocked.search_terms is None
    allowed = policy.decide("https://www.google.com/search?q=fine+words", when=when)
    assert (allowed.action, allowed.host) == (Action.ALLOW, "www.google.com")
    assert allowed.category is None
    assert allowed.search_terms == "fine words"
    assert (allowed.group, allowed.policy_version) == ("pupils", policy.version)
    assert allowed == Decision(
        Action.ALLOW, allowed.url, allowed.host, search_terms="fine words", group="pupils",
        policy_version=policy.version,
    )  # fmt: skip
