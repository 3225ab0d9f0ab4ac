"""The policy group of a request: by user, directory group, network, else the default; cached
only by what the groups look at."""

from __future__ import annotations

import ipaddress

import pytest

from filters import groups
from filters.groups import GroupFinder
from filters.policyspec import Group

SCHOOL = {
    "pupils": Group("pupils"),
    "year13": Group(
        "year13",
        directory_groups=frozenset({"year13"}),
        networks=(ipaddress.ip_network("10.13.0.0/16"),),
    ),
    "staff": Group("staff", users=frozenset({"teacher1"}), directory_groups=frozenset({"staff"})),
}


@pytest.mark.parametrize(
    ("user", "directory", "client", "expected"),
    [
        ("teacher1", (), None, "staff"),
        ("TEACHER1", (), "10.13.0.5", "staff"),  # the user beats the network
        (None, ("Year13",), None, "year13"),
        (None, ("staff",), "10.13.0.5", "staff"),  # a directory group beats the network
        (None, (), "10.13.200.1", "year13"),
        (None, (), "[::ffff:10.13.0.9]", "year13"),  # IPv4-mapped IPv6
        (None, (), "10.14.0.1", "pupils"),
        (None, (), "not an address", "pupils"),
        ("pupil1", (), None, "pupils"),
    ],
)
def test_group_by_user_then_directory_then_network(
    user: str | None, directory: tuple[str, ...], client: str | None, expected: str
) -> None:
    finder = GroupFinder(SCHOOL, "pupils")
    assert finder.find(user, directory, client) == expected
    assert finder.find(user, directory, client) == expected  # and again, from the cache


def test_an_address_no_group_looks_at_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str | None] = []
    real = groups._address

    def spy(client_ip: str | None) -> object:
        parsed.append(client_ip)
        return real(client_ip)

    monkeypatch.setattr(groups, "_address", spy)
    no_networks = {"pupils": Group("pupils"), "staff": SCHOOL["staff"]}
    finder = GroupFinder(no_networks, "pupils")
    answers = {finder.find(None, (), f"10.0.{i // 250}.{i % 250}") for i in range(1000)}
    assert answers == {"pupils"}
    assert parsed == [None]  # one lookup for "any address", not one per address
    assert finder.find("teacher1", (), "10.0.0.1") == "staff"


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(groups, "MAX_CACHED", 10)
    finder = GroupFinder(SCHOOL, "pupils")
    for i in range(100):
        assert finder.find(None, (), f"10.13.0.{i}") == "year13"
    assert len(finder._cache) <= 10
