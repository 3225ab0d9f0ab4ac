"""Detection as pupils type: separators or none, invisible characters, look-alike letters, every
search parameter; and the false-positive figure on a clean corpus of school searches."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote_plus

import pytest

from filters.decision import Action
from filters.policy import Policy

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data"
TERM_TIME = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
# Measured: 0 of 542 clean searches flagged, in each of the three spellings below, against the
# shipped lists and the test lists. A change that raises it must say why in docs/policy.md.
CLEAN_FALSE_POSITIVES = 0


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy.load(DATA / "policy" / "policy.yaml")


@pytest.mark.parametrize(
    "query",
    [
        "q=zorblax+front",
        "q=zorblax.front",
        "q=zorblax_front",
        "q=zorblaxfront",
        "q=zorblax%2Bfront",
        "q=zorblax%252Bfront",
        "q=zorblax-front",
        "q=zor%E2%80%8Bblax+front",  # a zero-width space
        "q=z%D0%BErbl%D0%B0%D1%85+front",  # Cyrillic о, а, х
        "q=maths+homework&q=zorblax+front",  # a repeated parameter
        "q=maths&oq=zorblax+front",  # another parameter Google reads
        "q=maths&as_epq=zorblax+front",
        "q=fr0nt+z0rblaaax",  # the older tolerances still hold
    ],
)
def test_search_as_pupils_type_it(policy: Policy, query: str) -> None:
    d = policy.decide(f"https://www.google.co.uk/search?{query}", when=TERM_TIME)
    assert (d.action, d.category) == (Action.FLAG, "proscribed"), d


@pytest.mark.parametrize("query", ["q=zorblaxian+frontier", "q=zorblaxfrontier", "q=frontzorblax"])
def test_whole_words_still(policy: Policy, query: str) -> None:
    d = policy.decide(f"https://www.google.co.uk/search?{query}", when=TERM_TIME)
    assert d.action is Action.ALLOW


def _clean_searches() -> list[str]:
    text = (DATA / "corpus" / "school-searches.txt").read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line and not line.startswith("#")]


@pytest.mark.parametrize("policy_file", ["blocklists/policy.yaml", "tests/data/policy/policy.yaml"])
def test_false_positives_on_clean_school_searches(policy_file: str) -> None:
    policy = Policy.load(ROOT / policy_file)
    searches = _clean_searches()
    assert len(searches) >= 500
    flagged = []
    for search in searches:
        for spelling in (search, search.replace(" ", "."), search.replace(" ", "")):
            url = f"https://www.google.com/search?q={quote_plus(spelling)}"
            d = policy.decide(url, when=TERM_TIME)
            if d.action is not Action.ALLOW:
                flagged.append((spelling, d.rule))
    assert len(flagged) == CLEAN_FALSE_POSITIVES, flagged


def test_clean_searches_as_a_page_score_nothing_positive() -> None:
    policy = Policy.load(ROOT / "blocklists" / "policy.yaml")
    _, score = policy.score_page(
        "\n".join(_clean_searches()), "text/plain", url="http://x.example/"
    )
    assert all(phrase.weight < 0 for phrase, _ in score.hits), score.hits
