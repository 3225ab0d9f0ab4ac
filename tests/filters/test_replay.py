"""Replaying recorded requests through two policies (`filters.replay`): the change found for a
request is the one two fresh decisions give, for every group, pupil and time, whatever was
asked before; and a host on no list of either policy never changes."""

from __future__ import annotations

import random
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filters.decision import Action
from filters.policy import Policy
from filters.replay import Change, PolicyPair, Who, compare, front_page, group_of

POLICY = Path(__file__).resolve().parents[1] / "data" / "policy"
WHO = [
    Who(None, None, None),
    Who("teacher1", None, None),  # staff by name
    Who("pupil7", None, "pupils"),  # named by the proposed exemption below
    Who("pupil8", None, "year13"),  # year13 from the directory, as the gateway recorded it
    Who(None, "10.13.0.5", None),  # year13 by network
    Who("pupil9", None, "no-such-group"),
]
WHEN = [
    datetime(2026, 11, 24, 10, 0, tzinfo=UTC),  # Tuesday: year13's exemption active
    datetime(2026, 11, 24, 16, 30, tzinfo=UTC),  # after school: social blocked for pupils
    datetime(2027, 1, 9, 17, 0, tzinfo=UTC),  # a Saturday, every exemption over
]
HOSTS = [
    "www.extremist.test", "fine.example", "games.example", "cdn.games.example", "social.test",
    "www.social.test", "watch.test", "dns.google", "10.0.0.1", "::1", "(none)",
    "archive-study.test", "research.example",
]  # fmt: skip
URLS = [
    "https://www.extremist.test/", "https://research.example/unit/4", "https://fine.example/",
    "https://www.google.com/search?q=zorblax+front", "https://games.example/play?x=1",
    "https://www.google.com/url?q=https://www.extremist.test/",
]  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> PolicyPair:
    """The test policy, and a proposal that blocks games.example (a new category), allows
    research.example for study, names pupil7 in a new exemption and lets staff see watch.test."""
    live = tmp_path_factory.mktemp("live")
    shutil.copytree(POLICY, live, dirs_exist_ok=True)
    proposed = tmp_path_factory.mktemp("proposed")
    shutil.copytree(POLICY, proposed, dirs_exist_ok=True)
    (proposed / "games.domains").write_text("games.example\nresearch.example\n")
    (proposed / "allow.yaml").write_text("entries:\n  - research.example\n")
    text = (proposed / "policy.yaml").read_text()
    text = text.replace(
        "  social: {description: social media, severity: low, action: allow}\n",
        "  social: {description: social media, severity: low, action: allow}\n"
        "  games: {description: games, severity: low, action: block}\n",
    )
    text = text.replace(
        "  - {folder: ut1/agressif, category: extremism}\n",
        "  - {folder: ut1/agressif, category: extremism}\n"
        "  - {file: games.domains, category: games}\n",
    )
    text = text.replace(
        "schedules:\n",
        "  - id: pupil7-games\n    reason: club\n    approved_by: P. Lead\n"
        "    pupils: [pupil7]\n    categories: [games]\n    starts: 2026-11-02\n"
        "    ends: 2026-12-18\nschedules:\n",
    )
    (proposed / "policy.yaml").write_text(text)
    return PolicyPair(Policy.load(live / "policy.yaml"), Policy.load(proposed / "policy.yaml"))


def _fresh(pair: PolicyPair, url: str, who: Who, when: datetime) -> Change | None:
    before_group, after_group = group_of(pair.current, who), group_of(pair.proposed, who)
    before = pair.current.decide(url, user=who.user, group=before_group, when=when)
    after = pair.proposed.decide(url, user=who.user, group=after_group, when=when)
    return compare(before, after)


def test_the_cached_change_is_the_fresh_change(pair: PolicyPair) -> None:
    cases = [("h", h) for h in HOSTS] + [("u", u) for u in URLS]
    asked = [(kind, what, who, when) for kind, what in cases for who in WHO for when in WHEN]
    random.Random(15).shuffle(asked)
    changed = set()
    for kind, what, who, when in asked * 2:  # the second round is answered from the caches
        url = front_page(what) if kind == "h" else what
        found = pair.case(kind, what, who, when)[1]
        assert found == _fresh(pair, url, who, when), (kind, what, who, when)
        if found is not None:
            changed.add((what, who.user, when.hour, found.after))
    # The cases the proposal was made for are among them:
    assert ("games.example", None, 10, Action.BLOCK) in changed
    assert ("games.example", "pupil7", 10, Action.STUDY) in changed  # the exemption names them
    assert ("games.example", "pupil7", 17, Action.BLOCK) in changed  # ...until it ends
    assert ("research.example", None, 10, Action.STUDY) in changed  # allowed for study
    assert pair.decided < len(asked)


def test_a_host_no_list_names_is_allowed_for_everyone_always(pair: PolicyPair) -> None:
    cases = [("h", host, front_page(host)) for host in HOSTS] + [("u", u, u) for u in URLS]
    for kind, what, url in cases:
        if not pair.is_unlisted(kind, what):
            continue
        for who in WHO:
            for when in WHEN:
                for policy in (pair.current, pair.proposed):
                    for group in policy.groups:
                        decision = policy.decide(url, user=who.user, group=group, when=when)
                        assert decision.action is Action.ALLOW, (url, who, group, when)
    assert pair.is_unlisted("h", "fine.example")
    assert not pair.is_unlisted("h", "games.example")  # listed by the proposal only
    assert not pair.is_unlisted("h", "10.0.0.1")  # an address is a hit (ip-literal)


def test_groups_follow_the_gateways_order(pair: PolicyPair) -> None:
    policy = pair.current
    assert group_of(policy, Who("Teacher1", None, "pupils")) == "staff"  # named beats recorded
    assert group_of(policy, Who("pupil8", None, "year13")) == "year13"  # recorded: the directory
    assert group_of(policy, Who(None, "10.13.0.5", None)) == "year13"  # the network's
    assert group_of(policy, Who("pupil9", "10.13.0.5", "gone")) == "year13"  # unknown recorded
    assert group_of(policy, Who(None, None, None)) == "pupils"  # the default


def test_a_change_is_named_by_the_stricter_decision(pair: PolicyPair) -> None:
    when = WHEN[2]
    blocked = pair.current.decide("https://www.extremist.test/", when=when)
    allowed = pair.current.decide("https://fine.example/", when=when)
    assert compare(blocked, blocked) is None
    newly = compare(allowed, blocked)
    assert newly == Change(Action.ALLOW, Action.BLOCK, "extremism", blocked.source or "")
    assert compare(blocked, allowed) == Change(
        Action.BLOCK, Action.ALLOW, "extremism", blocked.source or ""
    )


def test_front_pages() -> None:
    assert front_page("bad.test") == "https://bad.test/"
    assert front_page("::1") == "https://[::1]/"
    assert front_page("[::1]") == "https://[::1]/"
