"""Policy engine benchmark (issue #2): a 1,000,000-domain list and a 200,000-URL stream.

Prints, in one run: URLs per second of `prevent-monitor check --stdin`, in-process decision
p50/p99, policy load time (cold and from the compiled cache), peak memory, the longest decision
pause while a reload runs, and, where squidGuard is installed, squidGuard's throughput on the same
list and stream with our throughput as a ratio of it.

    .venv/bin/python bench/policy_bench.py [--domains 1000000] [--urls 200000]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from filters.live import LivePolicy  # noqa: E402
from filters.policy import Policy  # noqa: E402

SHIPPED = ROOT / "blocklists"
TLDS = ("test", "example", "invalid")
WORDS = (
    "news", "blog", "shop", "forum", "media", "daily", "world", "live", "online", "net", "web",
    "info", "tech", "games", "music", "video", "sport", "travel", "food", "home", "life",
    "health", "learn", "study", "class", "school", "maths", "art", "film", "radio",
)


def make_domains(n: int, rng: random.Random) -> list[str]:
    domains: set[str] = set()
    while len(domains) < n:
        name = f"{rng.choice(WORDS)}{rng.randrange(10**7)}{rng.choice(WORDS)}"
        domains.add(f"{name}.{rng.choice(TLDS)}")
    return sorted(domains)


def make_stream(domains: list[str], n: int, rng: random.Random) -> list[str]:
    """10 % hits; hosts repeat as on a real network (a few popular sites, a long tail)."""
    clean_hosts = [f"www.{rng.choice(WORDS)}{i}.example.org" for i in range(20_000)]
    weights = [1 / (rank + 1) for rank in range(len(clean_hosts))]
    popular = rng.choices(clean_hosts, weights=weights, k=n)
    lines = []
    for i in range(n):
        if rng.random() < 0.10:
            host = rng.choice(("", "www.", "cdn.")) + rng.choice(domains)
        else:
            host = popular[i]
        path = "/".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4)))
        query = f"?id={rng.randrange(10**6)}" if rng.random() < 0.3 else ""
        scheme = "https" if rng.random() < 0.8 else "http"
        client = f"10.{rng.randrange(4)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        lines.append(f"{scheme}://{host}/{path}{query} {client}/- - GET")
    return lines


def write_policy(folder: Path, domains: list[str]) -> Path:
    (folder / "bench.domains").write_text("\n".join(domains) + "\n")
    policy = folder / "policy.yaml"
    policy.write_text(
        "school: Benchmark Academy\n"
        "categories:\n  extremism: {severity: high, action: block}\n"
        "  proscribed: {severity: medium, action: flag}\n"
        "  extremist-language: {severity: high, action: flag}\n"
        "lists:\n  - {file: bench.domains, category: extremism}\n"
        f"list_folders: [{SHIPPED}]\n"
        f"search_terms:\n  - {{file: {SHIPPED}/proscribed-organisations.yaml, "
        "category: proscribed}\n"
        f"page_phrases:\n  - {{file: {SHIPPED}/local/page-phrases.weighted, "
        "category: extremist-language}\n"
        f"allowlist:\n  - {{file: {SHIPPED}/study-allowlist.yaml}}\n"
    )
    return policy


def run_child(argv: list[str], stdin: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    with stdin.open("rb") as feed:
        started = time.perf_counter()
        child = subprocess.Popen(
            argv, stdin=feed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(child.pid, 0)
        elapsed = time.perf_counter() - started
    if status != 0:
        err = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{argv[0]} failed ({status}): {err[-2000:]}")
    return elapsed, usage.ru_maxrss // 1024


def bench_squidguard(folder: Path, stream: Path, n: int) -> float | None:
    binary = shutil.which("squidGuard")
    if not binary:
        print("squidGuard: not installed (apt-get install squidguard) — no ratio")
        return None
    db = folder / "sgdb"
    (db / "blocked").mkdir(parents=True)
    shutil.copy(folder / "bench.domains", db / "blocked" / "domains")
    conf = folder / "squidGuard.conf"
    conf.write_text(
        f"dbhome {db}\nlogdir {folder}\n"
        "dest blocked {\n  domainlist blocked/domains\n}\n"
        "acl {\n  default {\n    pass !blocked all\n"
        "    redirect http://127.0.0.1/blocked?url=%u\n  }\n}\n"
    )
    started = time.perf_counter()
    subprocess.run([binary, "-c", str(conf), "-C", "all"], check=True, capture_output=True)
    print(f"squidGuard: compiled its Berkeley DB in {time.perf_counter() - started:.1f} s")
    elapsed, rss = run_child([binary, "-c", str(conf)], stream)
    rate = n / elapsed
    print(f"squidGuard: {rate:,.0f} URLs/s ({elapsed:.2f} s for {n:,} URLs), peak {rss} MiB")
    return rate


def bench_in_process(policy_path: Path, lines: list[str]) -> None:
    started = time.perf_counter()
    policy = Policy.load(policy_path)
    load = time.perf_counter() - started
    print(f"policy load (in process): {load:.2f} s, {policy.stats.domains:,} domains")
    urls = [(line.split(" ", 2)[0], line.split(" ", 2)[1].split("/")[0]) for line in lines]
    timings = []
    clock = time.perf_counter_ns
    for url, client in urls:
        t0 = clock()
        policy.decide(url, client_ip=client)
        timings.append(clock() - t0)
    timings.sort()
    p50 = timings[len(timings) // 2] / 1000
    p99 = timings[int(len(timings) * 0.99)] / 1000
    mean = statistics.fmean(timings) / 1000
    print(
        f"in-process decide(): p50 {p50:.1f} µs, p99 {p99:.1f} µs, mean {mean:.1f} µs "
        f"(target p99 <= 50 µs)"
    )
    # A reload in a background thread must not pause decisions.
    done = threading.Event()
    worst = 0.0
    live = LivePolicy.load(policy_path)
    policy = live.current
    reloads = threading.Thread(target=lambda: (live.reload(force=True), done.set()))
    reloads.start()
    count = 0
    while not done.is_set():
        url, client = urls[count % len(urls)]
        t0 = clock()
        policy.decide(url, client_ip=client)
        worst = max(worst, (clock() - t0) / 1e6)
        count += 1
    reloads.join()
    print(
        f"during a reload: {count:,} decisions made, the longest took {worst:.1f} ms "
        f"(the GIL's switch interval is {sys.getswitchinterval() * 1000:.0f} ms)"
    )
    print(f"in-process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--urls", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="pm-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        domains = make_domains(args.domains, rng)
        lines = make_stream(domains, args.urls, rng)
        stream = folder / "stream.txt"
        stream.write_text("\n".join(lines) + "\n")
        policy_path = write_policy(folder, domains)
        print(
            f"generated {len(domains):,} domains and {len(lines):,} URLs in "
            f"{time.perf_counter() - started:.1f} s"
        )
        cli = [
            str(ROOT / ".venv" / "bin" / "prevent-monitor"),
            "check",
            "--stdin",
            "--policy",
            str(policy_path),
        ]
        empty = folder / "empty.txt"
        empty.write_text("")
        cold, _ = run_child(cli, empty)
        warm, load_rss = run_child(cli, empty)
        print(
            f"policy load via CLI: cold {cold:.2f} s, warm (compiled cache) {warm:.2f} s, "
            f"peak {load_rss} MiB (target load <= 3 s, <= 300 MB)"
        )
        elapsed, rss = run_child(cli, stream)
        ours_total = args.urls / elapsed
        ours_stream = args.urls / max(elapsed - warm, 1e-9)
        print(
            f"prevent-monitor check --stdin: {ours_total:,.0f} URLs/s including load, "
            f"{ours_stream:,.0f} URLs/s streaming ({elapsed:.2f} s), peak {rss} MiB"
        )
        theirs = bench_squidguard(folder, stream, args.urls)
        if theirs:
            print(
                f"ratio to squidGuard (streaming): {ours_stream / theirs:.2f} "
                f"(including load: {ours_total / theirs:.2f}; target >= 1.0)"
            )
        bench_in_process(policy_path, lines)


if __name__ == "__main__":
    main()
