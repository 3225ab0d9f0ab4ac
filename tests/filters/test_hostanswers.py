"""The per-host answer cache (`filters.hostanswers`) never gives another answer than a fresh
decision: over every URL the filter and gateway tests use, for users, groups, addresses and
times on both sides of the test policy's exemptions and schedule."""

from __future__ import annotations

import ast
import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.decision import Action
from filters.hostanswers import answerable_host
from filters.policy import Policy
from filters.unwrap import may_carry_target
from filters.urls import normalise_url

TESTS = Path(__file__).resolve().parents[1]
POLICY = TESTS / "data" / "policy"

WHO: list[dict[str, Any]] = [
    {},
    {"user": "teacher1"},  # staff by name: extremism is flag for staff
    {"user": "pupil1", "client_ip": "10.13.0.5"},  # year13 by network: the exemption covers it
    {"directory_groups": ("year13",)},
    {"directory_groups": ("staff",), "client_ip": "192.0.2.1"},
    {"group": "pupils", "user": "pupil2"},
]
WHEN = [
    datetime(2026, 11, 24, 10, 0, tzinfo=UTC),  # Tuesday: year13's exemption active
    datetime(2026, 11, 24, 16, 30, tzinfo=UTC),  # after school: social blocked for pupils
    datetime(2025, 1, 10, 12, 0, tzinfo=UTC),  # the archive-study exemption's window
    datetime(2027, 1, 9, 17, 0, tzinfo=UTC),  # a Saturday, every exemption over
]


def _test_urls() -> list[str]:
    """Every URL-like string literal in the filter and gateway tests, and the listed hosts."""
    found: set[str] = set()
    for folder in ("filters", "gateway", "alerts"):
        for path in sorted((TESTS / folder).glob("test_*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                    if len(text) < 300 and text.startswith(("http://", "https://", "//")):
                        found.add(text)
    for name in ("block.domains", "watch.domains", "social.domains", "doh.domains"):
        for line in (POLICY / name).read_text().splitlines():
            host = line.strip().lstrip("*.")
            if host and not host.startswith("#"):
                for prefix in ("http://", "https://www.", "http://cdn."):
                    found.update(f"{prefix}{host}{tail}" for tail in ("", "/", "/a/b?id=1"))
    for host in ("study-resource.test", "fine.example", "unlawful-host.test", "other.invalid"):
        found.update(f"https://{host}{tail}" for tail in ("/", "/x?q=zorblax+front", "/y"))
    return sorted(found)


URLS = _test_urls()


def _policy_copy(folder: Path, *, expressions: bool) -> Path:
    """The test policy, with a domain in an illegal category added, and with or without its
    expression list: any expression makes every path matter, so only a policy without one
    takes the host-only path the cache is for."""
    shutil.copytree(POLICY, folder, dirs_exist_ok=True)
    (folder / "unlawful.domains").write_text("unlawful-host.test\n")
    text = (folder / "policy.yaml").read_text()
    text = text.replace(
        "  - {file: unlawful.urls, category: unlawful}\n",
        "  - {file: unlawful.urls, category: unlawful}\n"
        "  - {file: unlawful.domains, category: unlawful}\n",
    )
    if not expressions:
        text = text.replace("  - {file: block.expressions, category: extremism}\n", "")
    (folder / "policy.yaml").write_text(text)
    return folder / "policy.yaml"


@pytest.fixture(scope="module", params=["as-shipped", "no-expressions"])
def policy_file(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp(request.param)
    return _policy_copy(folder, expressions=request.param == "as-shipped")


@pytest.fixture(scope="module")
def hosts_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _policy_copy(tmp_path_factory.mktemp("hosts-only"), expressions=False)


def _cases(seed: int) -> Iterator[tuple[str, dict[str, Any], datetime]]:
    """Every URL, who and when, shuffled: a host's answer is kept under one who and time and
    asked for under the others."""
    cases = [(url, who, when) for url in URLS for who in WHO for when in WHEN]
    random.Random(seed).shuffle(cases)
    yield from cases


def test_the_cached_answer_is_the_fresh_answer(policy_file: Path) -> None:
    cached = Policy.load(policy_file)
    fresh = Policy.load(policy_file)
    served = 0
    for url, who, when in _cases(17):
        fresh._answers.clear()
        expected = fresh.decide(url, when=when, **who)
        before = len(cached._answers)
        got = cached.decide(url, when=when, **who)
        assert got == expected, (url, who, when)
        served += before > 0 and len(cached._answers) == before
    if "no-expressions" in str(policy_file):
        assert len(cached._answers) > 50 and served > 1000  # the cache really answered


def test_answers_a_user_or_the_time_can_change_are_not_kept(hosts_only: Path) -> None:
    policy = Policy.load(hosts_only)
    tuesday, later = WHEN[0], WHEN[3]
    # year13's exemption names extremism; the schedule names social; an exemption names a site.
    for url in ("http://extremist.test/", "http://chatter.test/", "http://watched.test/"):
        for when in (tuesday, later):
            policy.decide(url, directory_groups=("year13",), when=when)
    assert len(policy._answers) == 0
    assert policy.decide("http://extremist.test/", group="year13", when=tuesday).action is (
        Action.STUDY
    )
    assert policy.decide("http://extremist.test/", group="year13", when=later).action is (
        Action.BLOCK
    )
    # Kept: an allow (no hit), and a hit in an illegal category (nothing lifts it).
    policy.decide("https://fine.example/", when=tuesday)
    unlawful = policy.decide("https://unlawful-host.test/", group="year13", when=tuesday)
    assert unlawful.action is Action.BLOCK and unlawful.illegal
    assert len(policy._answers) == 2
    again = policy.decide("https://unlawful-host.test/other?page=2", group="year13", when=later)
    assert again == unlawful._replace(url="https://unlawful-host.test/other?page=2")


def test_a_kept_answer_names_the_url_asked_about(policy_file: Path) -> None:
    policy = Policy.load(policy_file)
    first = policy.decide("https://www.fine.example/a")
    second = policy.decide("https://www.fine.example/b?c=1")
    assert first.url == "https://www.fine.example/a"
    assert second.url == "https://www.fine.example/b?c=1"
    assert second == first._replace(url=second.url)


@pytest.fixture(scope="module")
def warm(hosts_only: Path) -> Policy:
    """One policy for every example, so answers kept in one are asked for in the next."""
    return Policy.load(hosts_only)


@settings(max_examples=300, deadline=None)
@given(
    host=st.sampled_from(
        ["extremist.test", "www.extremist.test", "chatter.test", "watched.test", "fine.example",
         "unlawful-host.test", "archive-study.test", "study-resource.test", "\u0435xtremist.test"]
    ),
    tail=st.text(alphabet="/?&=#%.ab19hpt:-_+", max_size=24),
    who=st.sampled_from(WHO),
    when=st.sampled_from(WHEN),
)
def test_any_path_on_a_listed_or_exempted_host(
    host: str, tail: str, who: dict[str, Any], when: datetime, warm: Policy
) -> None:
    url = f"https://{host}/{tail}"
    got = warm.decide(url, when=when, **who)  # kept from earlier examples, maybe
    warm._answers.clear()
    assert got == warm.decide(url, when=when, **who), url


@settings(max_examples=2000, deadline=None)
@given(
    scheme=st.sampled_from(["http://", "https://", "HTTP://", "http:/", "https:///", "ftp://"]),
    host=st.sampled_from(
        ["fine.example", "www.fine.example", "Fine.example", "fine.example.", "xn--bcher-kva.test",
         "fine.example:8080", "user@fine.example", "192.0.2.1", "0x7f.1", "fine_ex.example", ""]
    ),
    tail=st.text(alphabet="/?&=#%.\\\t\n\r ab19hHpPtT:-_+\u0130\x01", max_size=30),
)
def test_answerable_host_only_names_what_normalise_url_reads(
    scheme: str, host: str, tail: str
) -> None:
    raw = f"{scheme}{host}{tail}"
    named = answerable_host(raw)
    if named is None:
        return
    parsed = normalise_url(raw)
    assert (parsed.host, parsed.host_kind) == (named, "domain"), raw
    assert not may_carry_target(parsed.query), raw


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://www.fine.example/a/b?id=1", "www.fine.example"),
        ("http://fine.example", "fine.example"),
        ("http://fine.example/?q=zorblax+front", "fine.example"),  # a search: still answerable
        ("http://Fine.example/", None),  # not canonical: the full parse decides
        ("http://fine.example./", None),
        ("http://fine.example:8080/", None),
        ("http://user@fine.example/", None),
        ("http://fine.example/r?u=http://bad.test/", None),  # may carry a target
        ("http://fine.example/r?u=%68ttp%3A%2F%2Fbad.test", None),
        ("http://fine.example/r?u=\\\\bad.test", None),
        ("http://xn--bcher-kva.test/", None),  # an IDN: look-alikes are judged in full
        ("http://192.0.2.1/", None),
        ("fine.example/a", None),
    ],
)
def test_answerable_host_examples(raw: str, host: str | None) -> None:
    assert answerable_host(raw) == host
