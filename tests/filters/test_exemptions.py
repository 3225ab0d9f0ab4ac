"""Study exemptions scoped to named pupils, a class list and groups; illegal categories refused."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filters.decision import Action
from filters.policy import Policy
from filters.policyspec import liftable_categories

DATA = Path(__file__).parent.parent / "data" / "policy"
TERM_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

SCOPED = """
  - id: named-pupils
    reason: "EPQ on radicalisation"
    approved_by: P. Lead (DSL)
    pupils: [Pupil7, pupil8]
    categories: [extremism]
    starts: 2026-11-02
    ends: 2026-12-18
  - id: class-13p
    reason: "13P Politics"
    approved_by: P. Lead (DSL)
    class_list: classes/13p.txt
    groups: [staff]
    sites: [forum.test]
    starts: 2026-11-02
    ends: 2026-12-18
"""


def _policy_with(tmp_path: Path, exemptions: str, class_list: str | None = None) -> Path:
    copy = tmp_path / "policy"
    shutil.copytree(DATA, copy)
    text = (copy / "policy.yaml").read_text()
    text = text.replace("  - file: exemptions.yaml\n", "  - file: exemptions.yaml\n" + exemptions)
    (copy / "policy.yaml").write_text(text)
    if class_list is not None:
        (copy / "classes").mkdir()
        (copy / "classes" / "13p.txt").write_text(class_list)
    return copy / "policy.yaml"


@pytest.fixture
def scoped(tmp_path: Path) -> Policy:
    return Policy.load(
        _policy_with(tmp_path, SCOPED, "\ufeff# 13P, autumn term\nPupil20\npupil21\n")
    )


def test_named_pupils_only(scoped: Policy) -> None:
    url = "http://extremist.test/"
    d = scoped.decide(url, user="pupil7", when=TERM_TIME)
    assert d.action is Action.STUDY and "named-pupils" in d.reason
    assert scoped.decide(url, user="PUPIL8", when=TERM_TIME).action is Action.STUDY
    assert scoped.decide(url, user="pupil9", when=TERM_TIME).action is Action.BLOCK
    assert scoped.decide(url, when=TERM_TIME).action is Action.BLOCK
    # illegal content stays blocked for a named pupil
    assert scoped.decide("http://illegal.test/content/1", user="pupil7", when=TERM_TIME).blocks


def test_class_list_and_groups(scoped: Policy) -> None:
    url = "http://forum.test/threads/12"
    assert scoped.decide(url, user="pupil20", when=TERM_TIME).action is Action.STUDY
    assert scoped.decide(url, user="Pupil21", when=TERM_TIME).action is Action.STUDY
    assert scoped.decide(url, user="teacher1", when=TERM_TIME).action is Action.STUDY  # staff
    assert scoped.decide(url, user="pupil22", when=TERM_TIME).action is Action.BLOCK
    assert scoped.decide(url, when=TERM_TIME).action is Action.BLOCK
    later = datetime(2026, 12, 19, 10, 0, tzinfo=UTC)
    assert scoped.decide(url, user="pupil20", when=later).action is Action.BLOCK


def test_page_score_respects_pupils(scoped: Policy) -> None:
    page = b"<p>zorblax uprising now</p>" * 20
    url = "http://forum.test/x"
    d, _ = scoped.score_page(page, "text/html", url=url, user="pupil20", when=TERM_TIME)
    assert d.action is Action.STUDY and "class-13p" in d.reason
    d, _ = scoped.score_page(page, "text/html", url=url, user="pupil22", when=TERM_TIME)
    assert d.action is Action.BLOCK


def test_class_list_problems_have_file_and_line(tmp_path: Path) -> None:
    path = _policy_with(tmp_path, SCOPED, "pupil20\nnot a name\n\npupil;21\n")
    problems = [str(p) for p in Policy.validate(path)]
    assert any(
        p.endswith("13p.txt:2: 'not a name' is not a user name (one per line)") for p in problems
    ), problems
    assert any("13p.txt:4:" in p for p in problems), problems


def test_class_list_outside_policy_folder_and_missing(tmp_path: Path) -> None:
    outside = SCOPED.replace("classes/13p.txt", "../../etc/passwd")
    problems = [str(p) for p in Policy.validate(_policy_with(tmp_path / "a", outside))]
    assert any("class_list: '../../etc/passwd' is outside the policy folder" in p for p in problems)
    problems = [str(p) for p in Policy.validate(_policy_with(tmp_path / "b", SCOPED))]
    assert any("exemptions[4].class_list: cannot read 'classes/13p.txt'" in p for p in problems)
    assert all("policy.yaml:" in p for p in problems)


def test_unknown_group_and_bad_pupil(tmp_path: Path) -> None:
    bad = SCOPED.replace("groups: [staff]", "groups: [year99]").replace("Pupil7", "'a b'")
    problems = [str(p) for p in Policy.validate(_policy_with(tmp_path, bad, "pupil20\n"))]
    assert any("exemptions[4].groups: no such group 'year99'" in p for p in problems), problems
    assert any("exemptions[3].pupils: 'a b' is not a user name" in p for p in problems), problems


def test_illegal_category_refused(tmp_path: Path) -> None:
    bad = SCOPED.replace("categories: [extremism]", "categories: [extremism, unlawful]")
    problems = [str(p) for p in Policy.validate(_policy_with(tmp_path, bad, "pupil20\n"))]
    assert any(
        "exemptions[3].categories: 'unlawful' is marked illegal: true" in p
        and "no exemption can lift it" in p
        for p in problems
    ), problems


def test_liftable_categories(scoped: Policy) -> None:
    names = liftable_categories(scoped.spec)
    assert "extremism" in names and "watchlist" in names
    assert "unlawful" not in names
    assert names == sorted(names)
