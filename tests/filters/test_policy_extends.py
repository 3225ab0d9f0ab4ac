"""A school's policy that `extends:` the trust's: it starts from the trust's categories, lists,
groups and thresholds, adds its own lists on top, may tighten and never loosen."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest

from filters.decision import Action, Severity
from filters.policy import Policy
from filters.policyfile import read_policy
from filters.policyfiles import policy_files, policy_version

TERM_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

TRUST = """\
school: Fictional Learning Trust
categories:
  extremism: {description: Terrorist and extremist material, severity: high, action: block}
  hate: {description: Hate speech, severity: medium, action: flag}
  csam: {description: Unlawful, severity: high, action: block, illegal: true}
lists:
  - {file: extremism.yaml, category: extremism}
  - {file: hate.yaml, category: hate}
  - {file: csam.yaml, category: csam}
page_thresholds: {flag: 40, block: 90}
groups:
  staff:
    directory_groups: [staff]
    actions: {hate: allow}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def entries(path: Path, *domains: str) -> None:
    body = "".join(f"  - {{domain: {d}}}\n" for d in domains)
    write(path, f"entries:\n{body}")


@pytest.fixture(autouse=True)
def _in_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # problems name files relative to the working folder


@pytest.fixture
def trust(tmp_path: Path) -> Path:
    """The trust's folder beside two schools' folders, as deploy/README.md lays it out."""
    folder = tmp_path / "trust"
    write(folder / "policy.yaml", TRUST)
    entries(folder / "extremism.yaml", "shared-extremist.test")
    entries(folder / "hate.yaml", "hate.test")
    entries(folder / "csam.yaml", "unlawful.test")
    return folder


def school(tmp_path: Path, name: str, body: str = "") -> Path:
    return write(
        tmp_path / name / "policy.yaml",
        f"extends: ../trust/policy.yaml\nschool: {name.title()} Academy\n" + textwrap.dedent(body),
    )


def messages(path: Path) -> list[str]:
    return [str(p) for p in Policy.validate(path)]


def test_a_school_inherits_the_trusts_lists_and_adds_its_own(tmp_path: Path, trust: Path) -> None:
    entries(tmp_path / "north" / "local.yaml", "north-local.test")
    north = school(tmp_path, "north", "lists:\n  - {file: local.yaml, category: extremism}\n")
    south = school(tmp_path, "south")
    for path in (north, south):
        assert messages(path) == []
    north_policy, south_policy = Policy.load(north), Policy.load(south)
    shared = north_policy.decide("http://www.shared-extremist.test/", when=TERM_TIME)
    assert shared.action is Action.BLOCK and shared.category == "extremism"
    assert shared.source is not None and shared.source.endswith("trust/extremism.yaml:2")
    assert north_policy.decide("http://north-local.test/", when=TERM_TIME).action is Action.BLOCK
    # The local list is the north school's: the south school does not block it.
    assert south_policy.decide("http://north-local.test/", when=TERM_TIME).action is Action.ALLOW
    assert south_policy.decide("http://shared-extremist.test/", when=TERM_TIME).action is (
        Action.BLOCK
    )
    assert north_policy.spec.school == "North Academy"


def test_trust_groups_thresholds_and_categories_are_inherited(
    tmp_path: Path, trust: Path
) -> None:
    spec = read_policy(school(tmp_path, "north"))
    assert spec.problems == []
    assert spec.page_flag == 40 and spec.page_block == 90
    assert spec.categories["csam"].illegal
    assert spec.groups["staff"].actions == {"hate": Action.ALLOW}
    assert spec.base is not None and spec.base.path == trust / "policy.yaml"
    policy = Policy.load(school(tmp_path, "north"))
    staff = policy.decide("http://hate.test/", directory_groups=["staff"], when=TERM_TIME)
    pupil = policy.decide("http://hate.test/", when=TERM_TIME)
    assert (staff.action, pupil.action) == (Action.ALLOW, Action.FLAG)


def test_a_school_may_tighten(tmp_path: Path, trust: Path) -> None:
    north = school(
        tmp_path,
        "north",
        """\
        categories:
          hate: {action: block, severity: high}
        page_thresholds: {flag: 30}
        groups:
          staff: {users: [ms.teacher], safe_search: true}
        """,
    )
    assert messages(north) == []
    spec = read_policy(north)
    assert spec.categories["hate"].action is Action.BLOCK
    assert spec.categories["hate"].severity is Severity.HIGH
    assert spec.categories["hate"].description == "Hate speech"  # the trust's, kept
    assert (spec.page_flag, spec.page_block) == (30, 90)
    # The school names its staff; the trust's actions for them stay.
    assert spec.groups["staff"].users == frozenset({"ms.teacher"})
    assert spec.groups["staff"].directory_groups == frozenset({"staff"})
    assert spec.groups["staff"].actions == {"hate": Action.ALLOW}


def test_a_school_may_not_loosen(tmp_path: Path, trust: Path) -> None:
    north = school(
        tmp_path,
        "north",
        """\
        categories:
          extremism: {action: flag, severity: low}
          csam: {illegal: false}
        page_thresholds: {flag: 80, block: 200}
        groups:
          sixth-form:
            directory_groups: [year12]
            actions: {extremism: allow}
            page_thresholds: {block: 150}
        schedules:
          - name: lunch
            groups: [sixth-form]
            from: "12:00"
            until: "13:00"
            actions: {extremism: flag}
        """,
    )
    found = messages(north)
    assert len(found) == 8, found
    for text in found:
        assert text.startswith("north/policy.yaml:") or "north/policy.yaml:" in text
        assert "never loosen" in text and "trust/policy.yaml" in text
    where = {text.split(": ", 1)[1].split(":")[0] for text in found}
    assert where == {
        "categories.extremism.action",
        "categories.extremism.severity",
        "categories.csam.illegal",
        "page_thresholds.flag",
        "page_thresholds.block",
        "groups.sixth-form.actions.extremism",
        "groups.sixth-form.page_thresholds.block",
        "schedules[0].actions.extremism",
    }
    # Each names the school's own line: categories.extremism.action is on line 4.
    line_of = {text.split(": ", 1)[1].split(":")[0]: text.split(":")[1] for text in found}
    assert line_of["categories.extremism.action"] == "4"
    # What compiles is the trust's floor, not the loosened value: a trust that tightens its file
    # under a school's never stops that school's gateway.
    spec = read_policy(north)
    assert spec.problems == [] and len(spec.held) == 8
    assert spec.categories["extremism"].action is Action.BLOCK
    assert spec.categories["csam"].illegal
    assert spec.groups["sixth-form"].actions["extremism"] is Action.BLOCK
    policy = Policy.load(north)
    assert policy.decide("http://shared-extremist.test/", when=TERM_TIME).action is Action.BLOCK
    sixth = policy.decide(
        "http://shared-extremist.test/", directory_groups=["year12"], when=TERM_TIME
    )
    assert sixth.action is Action.BLOCK
    assert (policy.spec.page_flag, policy.spec.page_block) == (40, 90)


def test_a_trust_that_tightens_under_a_school_holds_it(tmp_path: Path, trust: Path) -> None:
    """The school stated the trust's value; then the trust tightened it. The school's gateway
    takes the trust's stricter value at once, and `lists validate` tells the school."""
    north = school(tmp_path, "north", "categories:\n  hate: {action: flag}\n")
    assert messages(north) == []
    write(trust / "policy.yaml", TRUST.replace("action: flag}", "action: block}"))
    policy = Policy.load(north)
    assert policy.decide("http://hate.test/", when=TERM_TIME).action is Action.BLOCK
    (held,) = messages(north)
    assert "north/policy.yaml:4: categories.hate.action" in held


def test_a_school_may_not_turn_off_safe_search_for_a_trust_group(
    tmp_path: Path, trust: Path
) -> None:
    found = messages(school(tmp_path, "north", "groups:\n  staff: {safe_search: false}\n"))
    assert len(found) == 1 and "groups.staff.safe_search" in found[0]


def test_the_schools_own_categories_are_its_own(tmp_path: Path, trust: Path) -> None:
    entries(tmp_path / "north" / "games.yaml", "games.test")
    north = school(
        tmp_path,
        "north",
        """\
        categories:
          games: {severity: low, action: block}
        lists:
          - {file: games.yaml, category: games}
        groups:
          staff: {actions: {games: allow}}
        """,
    )
    assert messages(north) == []
    policy = Policy.load(north)
    assert policy.decide("http://games.test/", when=TERM_TIME).action is Action.BLOCK
    staff = policy.decide("http://games.test/", directory_groups=["staff"], when=TERM_TIME)
    assert staff.action is Action.ALLOW


def test_the_trusts_files_are_part_of_the_schools_version(tmp_path: Path, trust: Path) -> None:
    north = school(tmp_path, "north")
    files = {p.resolve() for p in policy_files(north)}
    assert (trust / "policy.yaml").resolve() in files
    assert (trust / "extremism.yaml").resolve() in files
    before = policy_version(north)
    assert Policy.load(north).version == before
    entries(trust / "extremism.yaml", "shared-extremist.test", "another.test")
    assert policy_version(north) != before


def test_the_trusts_problems_name_the_trusts_file(tmp_path: Path, trust: Path) -> None:
    write(trust / "policy.yaml", TRUST + "default_group: nobody\n")
    found = messages(school(tmp_path, "north"))
    assert any(text.startswith("trust/policy.yaml:") and "default_group" in text for text in found)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("../trust/missing.yaml", "no such file"),
        ("/etc/passwd", "not a policy file"),
        ("../../outside.yaml", "outside the policy folder"),
        ("policy.yaml", "already in this chain"),
        ("../trust/extremism.txt", "not a policy file"),
    ],
)
def test_a_bad_extends_is_a_problem_at_its_line(
    tmp_path: Path, trust: Path, written: str, reason: str
) -> None:
    write(tmp_path.parent / "outside.yaml", "categories: {}\n")
    path = write(tmp_path / "north" / "policy.yaml", f"school: North\nextends: {written}\n")
    found = messages(path)
    assert len(found) == 1, found
    assert found[0].startswith("north/policy.yaml:2: extends:") and reason in found[0]


def test_a_loop_through_two_files_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "a" / "policy.yaml", "extends: ../b/policy.yaml\n")
    write(tmp_path / "b" / "policy.yaml", "extends: ../a/policy.yaml\n")
    found = messages(tmp_path / "a" / "policy.yaml")
    assert any("extends loop" in text for text in found), found


def test_a_trust_list_keeps_its_own_include_folder(tmp_path: Path, trust: Path) -> None:
    """A trust phrase list's `.Include<...>` is read from the trust's folder, not the school's."""
    write(trust / "phrases" / "part.phrases", "a phrase of hate\n")
    write(trust / "top.phrases", ".Include<phrases/part.phrases>\n")
    write(trust / "policy.yaml", TRUST + "search_terms:\n  - {file: top.phrases, category: hate}\n")
    north = school(tmp_path, "north")
    assert messages(north) == []
    assert (trust / "phrases" / "part.phrases").resolve() in {
        p.resolve() for p in policy_files(north)
    }


def test_the_worked_example_in_deploy_validates_and_layers() -> None:
    """deploy/trust/: the layout the deploy guide tells a trust to use."""
    folder = Path(__file__).resolve().parents[2] / "deploy" / "trust"
    north, south = (folder / name / "policy.yaml" for name in ("northfield", "southgate"))
    assert Policy.validate(north) == [] and Policy.validate(south) == []
    north_policy, south_policy = Policy.load(north), Policy.load(south)
    for policy in (north_policy, south_policy):
        assert policy.decide("http://trust-blocked.example/", when=TERM_TIME).action is Action.BLOCK
        assert not policy.spec.groups["staff"].safe_search  # the trust's, inherited
    local = "http://northfield-only.example/"
    assert north_policy.decide(local, when=TERM_TIME).action is Action.BLOCK
    assert south_policy.decide(local, when=TERM_TIME).action is Action.ALLOW
    assert (north_policy.spec.page_flag, south_policy.spec.page_flag) == (40, 50)
    assert north_policy.spec.school == "Northfield Academy"
