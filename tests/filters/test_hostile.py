"""Hostile sizes: over-long hosts are malformed before any lookup, and every input is decided
quickly (a fuzzed bound; the measured maximum is in docs/policy.md)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from filters.decision import Action, Decision
from filters.hosts import normalise_host
from filters.matchers import label_suffixes
from filters.policy import Policy

DATA = Path(__file__).parent.parent / "data" / "policy"
# Generous for a shared CI machine; typical decisions take tens of microseconds (docs/policy.md).
BOUND_SECONDS = 0.05


@pytest.fixture(scope="module")
def policy() -> Policy:
    policy = Policy.load(DATA / "policy.yaml")
    # One-off costs are not per-decision ones: the idna package loads its UTS #46 table on the
    # first Unicode host (~0.2 s), once per process.
    for url in ("http://bücher.example/", "http://\U00035673.example/", "http://x.test/?q=1"):
        policy.decide(url)
    return policy


@pytest.mark.parametrize(
    "host",
    [
        "a." * 40_000 + "test",  # 40,000 labels: 2.3 s in decide() before
        "a." * 128 + "test",  # 129 labels
        "a" * 250 + ".test",  # 255 characters
        "a\u3002" * 200 + "test",  # ideographic dots count as dots
        "xn--" + "a" * 300 + ".test",
    ],
)
def test_oversized_hosts_are_malformed_quickly(policy: Policy, host: str) -> None:
    d, elapsed = _timed_decide(policy, f"http://{host}/x")
    assert (d.action, d.category) == (Action.BLOCK, "malformed-host")
    assert normalise_host(host)[1] == "malformed"
    assert elapsed < BOUND_SECONDS


def _timed_decide(policy: Policy, url: str) -> tuple[Decision, float]:
    """The decision and the fastest of up to three timings. Hostile input that is slow is slow
    every time; a collector pause or a busy CI machine is not, so one slow try alone is timed
    again rather than failed (seen once in CI: a single 50 ms pause)."""
    fastest = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        decision = policy.decide(url)
        fastest = min(fastest, time.perf_counter() - started)
        if fastest < BOUND_SECONDS:
            break
    return decision, fastest


def test_largest_real_domain_still_works(policy: Policy) -> None:
    host = ".".join(["a" * 62] + ["a" * 61] * 3) + ".test"  # 253 characters
    assert len(host) == 253 and normalise_host(host)[1] == "domain"
    assert policy.decide(f"http://{host}/").action is Action.ALLOW
    assert normalise_host("a." * 126 + "t")[1] == "domain"  # 127 labels, 253 characters


def test_label_suffixes_bounded() -> None:
    host = "a." * 40_000 + "bad.test"
    suffixes = list(label_suffixes(host))
    assert len(suffixes) <= 127 and suffixes[-2:] == ["bad.test", "test"]
    assert all(len(s) <= 253 for s in suffixes)
    assert list(label_suffixes("www.bad.test")) == ["www.bad.test", "bad.test", "test"]


_LABEL = st.one_of(
    st.text(alphabet="abcxyz0189-_.%", min_size=0, max_size=70),
    st.text(min_size=0, max_size=20),  # any Unicode
    st.sampled_from(["extremist", "test", "xn--", "0x7f", "[::1]", "@", ":", "..", "\u3002"]),
)
_HOSTS = st.lists(_LABEL, min_size=1, max_size=300).map(".".join)
_TAILS = st.sampled_from(
    ["/", "/search?q=zorblax+front", "/go?url=//extremist.test/", "?u=%2F%2Fx"]
)

_worst: list[float] = [0.0]


@settings(max_examples=400, deadline=None)
@given(host=_HOSTS, tail=_TAILS, scheme=st.sampled_from(["http://", "https://", "//", ""]))
def test_fuzzed_decide_is_fast_and_total(policy: Policy, host: str, tail: str, scheme: str) -> None:
    url = scheme + host + tail
    d, elapsed = _timed_decide(policy, url)
    _worst[0] = max(_worst[0], elapsed)
    assert d.action in tuple(Action)
    assert elapsed < BOUND_SECONDS, (elapsed, url[:200])


def test_report_worst_fuzzed_decision() -> None:
    print(f"\nworst fuzzed decide(): {_worst[0] * 1e6:.0f} µs")


def test_signed_or_spaced_numeric_labels_are_not_an_address() -> None:
    """int() takes "-1", "+1" and "1_0": a host made of them once made the IPv4 parser raise
    (found by hypothesis: "-1.0"; the safe wrapper caught it, the full path did not). They are
    names, not addresses."""
    from filters.hosts import _parse_ipv4

    for host in ("-1.0", "+1.0", "1_0.0", "0x-1.0", "-0x1.2", " 1.0"):
        assert _parse_ipv4(host) is None, host
    assert _parse_ipv4("0x7f.1") == "127.0.0.1"  # real forms still parse
