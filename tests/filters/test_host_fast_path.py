"""The canonical-ASCII shortcut in `filters.hosts._normalise_host` answers exactly as the full
path does, for every host: the shortcut may only skip work, never change an answer."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from filters.hosts import _CANONICAL_DOMAIN_RE, _normalise_host, _normalise_in_full

# Near-canonical text: the characters a canonical host has, and the ones that make it not so.
_NEAR = st.text(alphabet="abcx09_-.nXZ%:[]\u0435\u3002", max_size=40)
_LABEL = st.from_regex(r"[a-z0-9_-]{1,63}", fullmatch=True)


@pytest.mark.parametrize(
    "host",
    [
        "bad.test", "www.bad.test", "a", "_dmarc.bad.test", "-x-.test", "1.2.3.4", "1.2.3",
        "3232235777", "0x7f.1", "bad.0x", "bad.0xab", "bad.0xz", "bad.123", "bad.123a",
        "xn--bcher-kva.test", "xn--xtremist-b8g.test", "bad.xn--p1ai", "BAD.test", "bad.test.",
        "bad..test", ".bad.test", "bad.test:80", "%62ad.test", "b\u0435d.test", "a" * 64 + ".test",
        ".".join(["a"] * 127), ".".join(["a"] * 128), "a" * 253, "a" * 254, "",
    ],
)  # fmt: skip
def test_known_hosts_answer_the_same_both_ways(host: str) -> None:
    assert _normalise_host(host) == _normalise_in_full(host)


@settings(max_examples=2000, deadline=None)
@given(_NEAR)
@example("0x.test.0x")
def test_near_canonical_text_answers_the_same_both_ways(text: str) -> None:
    assert _normalise_host(text) == _normalise_in_full(text)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_LABEL, min_size=1, max_size=8))
def test_canonical_domains_take_the_shortcut_unchanged(labels: list[str]) -> None:
    host = ".".join(labels)
    full = _normalise_in_full(host)
    assert _normalise_host(host) == full
    if full == (host, "domain", ()) and "xn--" not in host:
        # Every canonical domain is recognised, so the shortcut is taken for all of them.
        assert _CANONICAL_DOMAIN_RE.fullmatch(host) or len(host) > 253
