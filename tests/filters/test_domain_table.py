"""`DomainTable.lookup` probes only the suffixes with as many labels as some listed name has:
it finds exactly what probing every label-aligned suffix finds, in the same order, for any
table and host (long hosts, empty labels and addresses included)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from filters.matchers import MAX_DOMAIN, DomainTable, label_suffixes

_LABEL = st.sampled_from(["a", "b", "bad", "test", "example", "", "x" * 60, "10", "0"])
_NAME = st.lists(_LABEL, min_size=1, max_size=6).map(".".join)


def _every_suffix(table: dict[str, list[int]], host: str, exact: bool) -> list[tuple[str, int]]:
    return [
        (suffix, ref)
        for suffix in ((host,) if exact else label_suffixes(host))
        for ref in table.get(suffix, [])
    ]


@settings(max_examples=400, deadline=None)
@given(
    names=st.lists(_NAME, max_size=12),
    hosts=st.lists(st.one_of(_NAME, st.lists(_LABEL, min_size=5, max_size=12).map(".".join)),
                   min_size=1, max_size=6),
    exact=st.booleans(),
)  # fmt: skip
def test_a_lookup_finds_what_every_suffix_finds(
    names: list[str], hosts: list[str], exact: bool
) -> None:
    table, listed = DomainTable(), {}
    for ref, name in enumerate([*names, *names[:2]]):  # some names twice: several refs
        table.add(name, ref)
        listed.setdefault(name, []).append(ref)
    for host in hosts:
        assert table.lookup(host, exact=exact) == _every_suffix(listed, host, exact), host


def test_a_host_too_long_to_be_listed_still_finds_its_listed_parent() -> None:
    table = DomainTable()
    table.add("bad.test", 1)
    table.add("deep.er.bad.test", 2)
    host = "x" * 60 + "." + ".".join(["y" * 60] * 4) + ".er.bad.test"
    assert len(host) > MAX_DOMAIN
    assert table.lookup(host) == [("bad.test", 1)]
    assert table.lookup("a.deep.er.bad.test") == [("deep.er.bad.test", 2), ("bad.test", 1)]
    table.release(lambda: None)
    assert table.lookup("a.deep.er.bad.test") == [] and table._depths == ()
