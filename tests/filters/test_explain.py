"""The precedence step and the exemption a decision records, and `explain()`'s words around
them: the same for `check` and the console's URL tester."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filters.decision import Action, Step
from filters.explain import answer, explain
from filters.policy import Policy

DATA = Path(__file__).parent.parent / "data" / "policy"
TERM_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday, in the y13-politics term
AFTER_SCHOOL = datetime(2026, 11, 24, 16, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(DATA / "policy.yaml")


@pytest.mark.parametrize(
    ("url", "who", "when", "step", "action"),
    [
        ("http://www.extremist.test/", {}, TERM_TIME, Step.GROUP, Action.BLOCK),
        ("http://www.extremist.test/", {"group": "year13"}, TERM_TIME, Step.EXEMPTION,
         Action.STUDY),
        ("http://study-resource.test/", {}, TERM_TIME, Step.NONE, Action.ALLOW),
        ("http://chatter.test/", {}, AFTER_SCHOOL, Step.SCHEDULE, Action.BLOCK),
        ("http://chatter.test/", {}, TERM_TIME, Step.NONE, Action.ALLOW),
        ("http://nothing-listed.test/", {}, TERM_TIME, Step.NONE, Action.ALLOW),
        ("http://192.0.2.1/", {}, TERM_TIME, Step.GROUP, Action.FLAG),
    ],
)  # fmt: skip
def test_each_decision_names_its_step(
    policy: Policy, url: str, who: dict[str, str], when: datetime, step: Step, action: Action
) -> None:
    decision = policy.decide(url, when=when, **who)
    assert (decision.step, decision.action) == (step, action), decision.reason


def test_an_illegal_category_is_step_one_and_the_allowlist_step_two(tmp_path: Path) -> None:
    copy = tmp_path / "policy"
    shutil.copytree(DATA, copy)
    with (copy / "block.domains").open("a") as handle:
        handle.write("study-resource.test\n")  # listed, and on the study allowlist
    policy = Policy.load(copy / "policy.yaml")
    # illegal.test is on the allowlist too: the unlawful list still wins, for every group.
    unlawful = policy.decide("http://illegal.test/content", group="year13", when=TERM_TIME)
    assert (unlawful.step, unlawful.action) == (Step.ILLEGAL, Action.BLOCK) and unlawful.illegal
    lifted = policy.decide("http://study-resource.test/unit", when=TERM_TIME)
    assert (lifted.step, lifted.action) == (Step.ALLOWLIST, Action.STUDY)
    assert lifted.exemption is None and "allow.yaml:2" in lifted.reason


def test_the_check_line_carries_the_step_and_the_exemption(policy: Policy) -> None:
    decision = policy.decide("http://www.extremist.test/x", group="year13", when=TERM_TIME)
    line = answer(decision, "HTTP://WWW.EXTREMIST.TEST/x")
    assert line["step"] == "exemption" and line["exemption"] == "y13-politics"
    assert line["url"] == "HTTP://WWW.EXTREMIST.TEST/x"
    assert line["normalised"] == "http://www.extremist.test/x"


def test_explain_names_the_exemption_the_schedule_and_the_unwrapped_targets(
    policy: Policy,
) -> None:
    lifted = explain(policy, "http://www.extremist.test/", group="year13", when=TERM_TIME)
    assert lifted.exemption is not None and lifted.exemption.id == "y13-politics"
    assert "study exemption" in lifted.step_words
    assert lifted.exemption.groups == frozenset({"year13"})

    timed = explain(policy, "http://chatter.test/", when=AFTER_SCHOOL)
    assert [s.name for s in timed.schedules] == ["after school"]

    wrapped = explain(
        policy, "https://www.google.com/url?q=https://translate.google.com/translate?u="
        "http://www.extremist.test/deep", when=TERM_TIME,
    )  # fmt: skip
    assert wrapped.decision.action is Action.BLOCK
    assert "http://www.extremist.test/deep" in wrapped.targets
    assert wrapped.targets[0].startswith("https://translate.google.com/")


def test_explain_never_raises_on_hostile_text(policy: Policy) -> None:
    for text in ("javascript:alert(1)", "\x00\x01", "http://" + "a" * 100_000, "", "http://[::"):
        assert explain(policy, text, when=TERM_TIME).answer["action"] in {"allow", "block"}


def test_the_reason_names_the_exemptions_last_day(policy: Policy) -> None:
    # y13-politics ends 2026-12-18 in the file: that whole day is its last.
    lifted = policy.decide("http://www.extremist.test/", group="year13", when=TERM_TIME)
    assert "last day 2026-12-18" in lifted.reason
    assert policy.decide(
        "http://www.extremist.test/", group="year13",
        when=datetime(2026, 12, 18, 23, 59, tzinfo=UTC),
    ).action is Action.STUDY  # fmt: skip
