"""How long URL normalisation and unwrapping take per request (the gateway runs both on every one).

Generates ~100,000 varied URLs (seeded, so runs compare): a few thousand hosts with realistic
repetition (a few popular sites take most requests), paths with and without queries, and a
share of evasive spellings (percent-encoding, IDN, numeric IPs, userinfo, dot segments,
redirect links). Prints microseconds per URL: mean, p50, p99, for `normalise_url` alone and for
`normalise_url` followed by `embedded_targets`.

    .venv/bin/python bench/url_bench.py [--count N]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from filters.hosts import _cached_host
from filters.unwrap import embedded_targets
from filters.urls import normalise_url

WORDS = ["news", "maths", "homework", "video", "games", "school", "science", "history", "art"]
TLDS = ["test", "example", "invalid"]


def make_hosts(rng: random.Random, n: int) -> list[str]:
    hosts = []
    for i in range(n):
        name = f"{rng.choice(WORDS)}{i}.{rng.choice(TLDS)}"
        hosts.append(rng.choice(["", "www.", "cdn.", "api.", "m."]) + name)
    return hosts


def make_url(rng: random.Random, hosts: list[str]) -> str:
    # Pareto-like index: the first few hosts get most of the traffic, as on a real network.
    host = hosts[min(int(rng.paretovariate(1.2)) - 1, len(hosts) - 1)]
    depth = rng.randint(0, 5)
    path = "/" + "/".join(rng.choice(WORDS) + str(rng.randint(0, 99)) for _ in range(depth))
    query = ""
    if rng.random() < 0.4:
        query = "?" + "&".join(f"{rng.choice(WORDS)}={rng.randint(0, 10**6)}" for _ in range(3))
    kind = rng.random()
    if kind < 0.80:
        return f"{rng.choice(['https', 'http'])}://{host}{path}{query}"
    if kind < 0.83:
        return f"{host}:443"  # CONNECT authority
    if kind < 0.86:
        return f"http://{host.upper()}.:80{path}/../x%2Fy{query}"
    if kind < 0.88:
        return f"http://good.example@{host}{path}"
    if kind < 0.90:
        return f"http://{rng.randint(2**24, 2**32 - 1)}/{path}"
    if kind < 0.92:
        return f"https://bücher{rng.randint(0, 50)}.test{path}?q=caf%C3%A9%2520x"
    if kind < 0.94:
        return f"https://{host}{path}?q=%65xtreme%20words%26more"
    if kind < 0.97:
        return f"https://www.google.com/url?q=https%3A%2F%2F{host}{path}&sa=t"
    return f"https://web.archive.org/web/2020/https://{host}{path}"


def percentile(sorted_values: list[float], p: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def report(name: str, timings_ns: list[int]) -> None:
    us = sorted(t / 1000 for t in timings_ns)
    print(
        f"{name:<38} mean {statistics.fmean(us):6.2f} µs   p50 {percentile(us, 0.50):6.2f} µs"
        f"   p99 {percentile(us, 0.99):6.2f} µs   max {us[-1]:8.1f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=5_000)
    args = parser.parse_args()

    rng = random.Random(2024)
    hosts = make_hosts(rng, args.hosts)
    urls = [make_url(rng, hosts) for _ in range(args.count)]
    print(f"{len(urls):,} URLs over {args.hosts:,} hosts; Python {sys.version.split()[0]}")

    clock = time.perf_counter_ns
    for label in ("normalise_url (cold host cache)", "normalise_url (warm host cache)"):
        timings = []
        started = clock()
        for url in urls:
            t0 = clock()
            normalise_url(url)
            timings.append(clock() - t0)
        wall = (clock() - started) / 1e9
        report(label, timings)
        print(f"{'':<38} {len(urls) / wall:,.0f} URLs/s including timer overhead")

    timings = []
    for url in urls:
        t0 = clock()
        embedded_targets(normalise_url(url))
        timings.append(clock() - t0)
    report("normalise_url + embedded_targets", timings)

    info = _cached_host.cache_info()
    print(f"host cache: {info.currsize:,} entries, {info.hits:,} hits, {info.misses:,} misses")


if __name__ == "__main__":
    main()
