"""Policy engine benchmark (issues #2 and #17): a 1,000,000-domain list and a 200,000-URL stream.

Prints, in one run: URLs per second of `prevent-monitor check --stdin` as JSON and in
`--format squid` (the Squid helper), per wall second and per CPU second of the helper, measured
from the first streamed line to the last answer (the policy load is timed apart); in-process
decision p50/p99; policy load time (cold and from the compiled cache); peak memory; the longest
decision pause while a reload runs; and, where squidGuard is installed, squidGuard's throughput on
the same list and stream, measured the same way, with ours as a ratio of it.

    .venv/bin/python bench/policy_bench.py [--domains 1000000] [--urls 200000] [--code DIR]
        [--instructions]

`--instructions` also runs each helper under valgrind's callgrind over the same stream and
prints the machine instructions it spends per URL, with ours as a ratio of squidGuard's. Unlike
seconds on this shared machine, the count is the same from run to run for the same code, so it
shows a change of a few per cent that the timings cannot.

`--code DIR` measures the code of another checkout (a `git worktree` of an older commit) with
this script, so figures before and after a change come from the same benchmark and the same run
of squidGuard.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The code measured: this checkout, or another one named by --code (read before the imports).
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv else ROOT
sys.path.insert(0, str(CODE))

import filters  # noqa: E402
from filters.live import LivePolicy  # noqa: E402
from filters.policy import Policy  # noqa: E402

SHIPPED = ROOT / "blocklists"
VALGRIND = shutil.which("valgrind")
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


@dataclass
class Streamed:
    """One helper's run over the stream, from the first streamed line to the last answer."""

    urls: int
    wall: float  # seconds
    cpu: float  # the helper's own user + system seconds over the same span
    rss: int  # MiB, peak

    @property
    def rate(self) -> float:
        return self.urls / self.wall

    @property
    def per_cpu(self) -> float:
        return self.urls / max(self.cpu, 1e-9)

    def show(self, name: str) -> None:
        print(
            f"{name}: {self.rate:,.0f} URLs/s, {self.per_cpu:,.0f} URLs per CPU second "
            f"({self.wall:.2f} s wall, {self.cpu:.2f} s CPU for {self.urls:,} URLs), "
            f"peak {self.rss} MiB"
        )


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def stream_through(argv: list[str], stream: bytes, urls: int) -> Streamed:
    """Run a helper as Squid would: one line first (its answer says the helper is ready, so the
    policy load is not counted), then the whole stream while the answers are read back."""
    child = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = _loaded(child, stream)
    cpu_before = _cpu_seconds(child.pid)
    started = time.perf_counter()
    writer = _feed(child, stream, close=True)
    answered = _answers(out, urls)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(child.pid) - cpu_before
    writer.join()
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = status
    if status != 0 or answered < urls:
        err = child.stderr.read().decode() if child.stderr else ""
        raise SystemExit(f"{argv[0]} failed ({status}, {answered} answers): {err[-2000:]}")
    return Streamed(urls, wall, cpu, usage.ru_maxrss // 1024)


def _loaded(child: subprocess.Popen[bytes], stream: bytes) -> int:
    """Send the stream's first line and wait for its answer, which says the helper has loaded
    its lists (so the load is never counted); the descriptor its answers come on."""
    assert child.stdin and child.stdout
    child.stdin.write(stream[: stream.index(b"\n") + 1])
    child.stdin.flush()
    out = child.stdout.fileno()
    while not os.read(out, 1 << 16).endswith(b"\n"):
        pass
    return out


def _feed(child: subprocess.Popen[bytes], stream: bytes, *, close: bool) -> threading.Thread:
    """Write the whole stream from a thread (the answers are read meanwhile), then end the
    helper's input if `close`."""
    pipe = child.stdin
    assert pipe

    def write_all() -> None:
        pipe.write(stream)
        pipe.flush()
        if close:
            pipe.close()

    writer = threading.Thread(target=write_all)
    writer.start()
    return writer


def _answers(out: int, urls: int) -> int:
    """Read answer lines until `urls` have come or the helper stops; how many came."""
    answered = 0
    while answered < urls:
        chunk = os.read(out, 1 << 20)
        if not chunk:
            break
        answered += chunk.count(b"\n")
    return answered


def squidguard_argv(folder: Path) -> list[str] | None:
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
    return [binary, "-c", str(conf)]


def bench_in_process(policy_path: Path, lines: list[str]) -> None:
    started = time.perf_counter()
    policy = Policy.load(policy_path)
    load = time.perf_counter() - started
    # As `check` and `LivePolicy` do: the collector leaves the loaded policy alone.
    gc.freeze()
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
        f"(target p99 <= 20 µs)"
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


def helpers_to_run(folder: Path, policy_path: Path) -> dict[str, list[str]]:
    """The command line of each helper: ours as JSON and as Squid's, then squidGuard's."""
    cli = [
        sys.executable,
        "-c",
        f"import sys; sys.path.insert(0, {str(CODE)!r}); from monitor.cli import main; "
        "sys.exit(main())",
        "check",
        "--stdin",
        "--policy",
        str(policy_path),
    ]
    helpers: dict[str, list[str]] = {
        "check --stdin (JSON)": cli,
        "check --stdin --format squid": [*cli, "--format", "squid"],
    }
    squidguard = squidguard_argv(folder)
    if squidguard:
        helpers["squidGuard"] = squidguard
    return helpers


def bench_helpers(
    folder: Path, helpers: dict[str, list[str]], stream: Path, urls: int, rounds: int
) -> None:
    """Each helper in turn, `rounds` times (the machine is shared: interleaving lets a busy spell
    hit them all), then the median of each and the ratios of the medians."""
    cli = helpers["check --stdin (JSON)"]
    empty = folder / "empty.txt"
    empty.write_text("")
    cold, _ = run_child(cli, empty)
    warm, load_rss = run_child(cli, empty)
    print(
        f"policy load via CLI: cold {cold:.2f} s, warm (compiled cache) {warm:.2f} s, "
        f"peak {load_rss} MiB (target load <= 3 s, <= 300 MB)"
    )
    data = stream.read_bytes()
    runs: dict[str, list[Streamed]] = {name: [] for name in helpers}
    for round_no in range(1, rounds + 1):
        for name, argv in helpers.items():
            run = stream_through(argv, data, urls)
            runs[name].append(run)
            run.show(f"round {round_no}, {name}")
    best = {name: _median(found) for name, found in runs.items()}
    print(f"median of {rounds} round(s):")
    for name, run in best.items():
        run.show(f"  {name}")
    theirs = best.get("squidGuard")
    if theirs is None:
        return
    for name, target in (("check --stdin --format squid", 1.0), ("check --stdin (JSON)", 0.5)):
        ours = best[name]
        print(
            f"ratio to squidGuard, {name}: {ours.per_cpu / theirs.per_cpu:.2f} per CPU second, "
            f"{ours.rate / theirs.rate:.2f} per wall second (target >= {target})"
        )


def count_instructions(valgrind: str, argv: list[str], stream: bytes, urls: int) -> int:
    """The machine instructions a helper spends answering the stream, counted by valgrind's
    callgrind: the same count for the same code and input however busy the machine is, where
    seconds on this shared machine move by a third between runs. Run as `stream_through` runs
    it; counting is switched on after the first answer (the load is not counted) and off after
    the last, before the helper sees the end of its input (its exit is not counted either)."""
    with tempfile.TemporaryDirectory(prefix="pm-callgrind-") as tmp:
        out_file = Path(tmp) / "callgrind.out"
        child = subprocess.Popen(
            [valgrind, "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={out_file}", *argv],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        assert child.stdin and child.stderr
        out = _loaded(child, stream)
        _callgrind_control("on", child.pid)
        writer = _feed(child, stream, close=False)
        answered = _answers(out, urls)
        writer.join()
        _callgrind_control("off", child.pid)
        child.stdin.close()
        errors = child.stderr.read().decode(errors="replace")
        child.wait()
    found = re.search(r"Collected : (\d+)", errors)
    if child.returncode != 0 or answered < urls or found is None:
        raise SystemExit(f"{argv[0]} under callgrind failed: {errors[-2000:]}")
    return int(found.group(1))


def _callgrind_control(state: str, pid: int) -> None:
    subprocess.run(
        ["callgrind_control", "--instr=" + state, str(pid)], check=True, capture_output=True
    )


def bench_instructions(helpers: dict[str, list[str]], stream: Path, urls: int) -> None:
    """Instructions per URL of each helper over the same stream, and ours as a ratio of
    squidGuard's (URLs per instruction, so above 1.0 is better, as with the other ratios)."""
    if VALGRIND is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)")
        return
    data = stream.read_bytes()
    per_url = {}
    for name, argv in helpers.items():
        per_url[name] = count_instructions(VALGRIND, argv, data, urls) / urls
        print(f"instructions: {name}: {per_url[name]:,.0f} per URL", flush=True)
    theirs = per_url.get("squidGuard")
    if theirs is None:
        return
    for name, target in (("check --stdin --format squid", 1.0), ("check --stdin (JSON)", 0.5)):
        print(
            f"ratio to squidGuard by instructions, {name}: {theirs / per_url[name]:.2f} "
            f"(target >= {target} in seconds; this ratio reads lower: Python runs more "
            f"instructions a second than squidGuard's lookups, which wait on memory)"
        )


def _median(runs: list[Streamed]) -> Streamed:
    return sorted(runs, key=lambda run: run.per_cpu)[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--urls", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each helper")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout to measure")
    parser.add_argument(
        "--instructions", action="store_true",
        help="also count each helper's instructions per URL under valgrind (minutes)",
    )  # fmt: skip
    args = parser.parse_args()
    rng = random.Random(args.seed)
    print(f"measuring the code in {CODE} (filters from {Path(filters.__file__).parent})")
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
        helpers = helpers_to_run(folder, policy_path)
        bench_helpers(folder, helpers, stream, args.urls, args.rounds)
        if args.instructions:
            bench_instructions(helpers, stream, args.urls)
        bench_in_process(policy_path, lines)


if __name__ == "__main__":
    main()
