"""The shipped proscribed organisations list: complete as checked, each organisation with the
spellings people search for. These names are public facts (the Home Office list); everything
else in the tests stays fictional."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from filters.decision import Action
from filters.policy import Policy

ROOT = Path(__file__).resolve().parents[2]
LIST = ROOT / "blocklists" / "proscribed-organisations.yaml"


@pytest.fixture(scope="module")
def shipped() -> Policy:
    return Policy.load(ROOT / "blocklists" / "policy.yaml")


def test_the_list_names_its_source_date_and_every_organisation() -> None:
    text = LIST.read_text(encoding="utf-8")
    assert "https://www.gov.uk/government/publications/proscribed-terror-groups" in text
    assert "# Checked:  2026-11-23" in text
    entries = yaml.safe_load(text)["entries"]
    organisations = {entry["note"] for entry in entries}
    # Pinned: a change to the list (an order of Parliament) must change this on purpose.
    assert len(organisations) == 82
    assert all(entry.get("phrase") and entry.get("note") for entry in entries)


@pytest.mark.parametrize(
    "query",
    [
        "al-qaeda", "al qaeda", "alqaeda", "al-qa'ida",
        "hizb ut tahrir", "hizb ut-tahrir",
        "islamic state", "isis", "isil", "daesh",
        "atomwaffen", "atomwaffen division", "national socialist order",
        "palestine action", "terrorgram",
    ],
)  # fmt: skip
def test_searches_for_proscribed_organisations_are_flagged(shipped: Policy, query: str) -> None:
    url = "https://www.google.com/search?q=" + query.replace(" ", "+")
    decision = shipped.decide(url)
    assert (decision.action, decision.category) == (Action.FLAG, "proscribed-organisations")


@pytest.mark.parametrize(
    "query", ["history of the troubles gcse", "the base of a triangle", "national trust"]
)
def test_everyday_searches_are_not(shipped: Policy, query: str) -> None:
    decision = shipped.decide("https://www.google.com/search?q=" + query.replace(" ", "+"))
    assert decision.action == Action.ALLOW
