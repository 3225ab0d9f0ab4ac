"""Where the gateway's per-request time goes (issue #17 item 1), in process, without a proxy.

mitmproxy calls the gateway's hooks for every request: `requestheaders`, `request`,
`responseheaders` and `response` on each addon that has them. This script builds the gateway with
the gateway benchmark's policy (1 M domains by default), makes flows with mitmproxy's own test
kit (`mitmproxy.test.tflow`) carrying the gateway benchmark's 8 KB page, and calls each hook as
mitmproxy's addon manager does, for the same stream of URLs as `bench/gateway_bench.py`. It
prints the CPU microseconds per request each hook costs, with page scanning off and on, and the
total; `--profile` adds a cProfile of the whole loop, sorted by own time.

Events and the host-only context log go to the real store's writer on SQLite, as in the gateway
benchmark. CPU time is the whole process's (`time.process_time`), so the writer's thread is
counted where it runs, and the last column adds what the writer still had to write at the end.

    .venv/bin/python bench/hooks_bench.py [--domains 1000000] [--requests 20000] [--profile]
        [--rounds 3] [--code DIR]

`--code DIR` measures another checkout (a `git worktree` of an older commit) with this script;
`--rounds` repeats each measurement and prints the median, as the machine is shared.

`--instructions` counts instead of timing: each run goes under valgrind's callgrind, which
counts the machine instructions the gateway's own thread spends in its hooks (called directly,
not through mitmproxy's dispatch) for `--requests` requests, with page scanning off and on. The
count repeats to within a fraction of a percent whatever else the machine is doing, so it can
tell a change of a few per cent that the timings cannot. It takes minutes: use
`--domains 20000 --requests 1000` (a list's size barely changes a request's cost). The
writer's thread is not counted: its work depends on time (it writes every few seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import functools
import io
import os
import pstats
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The code measured: this checkout, or another one named by --code (as bench/policy_bench.py).
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv else ROOT
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(CODE))

from mitmproxy import http  # noqa: E402
from mitmproxy.addonmanager import AddonManager  # noqa: E402
from mitmproxy.proxy.layers.http import _hooks as http_hooks  # noqa: E402
from mitmproxy.test import taddons, tflow  # noqa: E402

from bench.gateway_bench import write_policy, write_urls  # noqa: E402
from bench.policy_bench import make_domains  # noqa: E402
from monitor.gateway.addon import Gateway  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402

HOOKS = ("requestheaders", "request", "responseheaders", "response")
# The gateway benchmark's origin page (bench/gateway_bench.py).
WORDS = [
    "the", "school", "library", "opens", "at", "nine", "and", "the", "maths", "club", "meets",
    "on", "tuesday",
]  # fmt: skip
LINES = (" ".join(WORDS[(i + j) % len(WORDS)] for j in range(12)) for i in range(100))
PAGE = (
    "<html><head><title>News</title></head><body>"
    + "".join(f"<p>{line}</p>" for line in LINES)
    + "</body></html>"
).encode()


def flow_for(url: str, host: str) -> http.HTTPFlow:
    flow = tflow.tflow()
    flow.request.url = url
    flow.request.headers["host"] = host
    flow.client_conn.peername = ("192.168.1.20", 50000)
    return flow


def response_for(url: str, distinct: bool) -> http.Response:
    """The gateway benchmark's page; with `distinct`, every address its own (scored afresh)."""
    body = PAGE.replace(b"</body>", f"<p>{url}</p></body>".encode()) if distinct else PAGE
    return http.Response.make(200, body, {"content-type": "text/html; charset=utf-8"})


DISTINCT = True  # --pages

EVENTS = {
    "requestheaders": http_hooks.HttpRequestHeadersHook,
    "request": http_hooks.HttpRequestHook,
    "responseheaders": http_hooks.HttpResponseHeadersHook,
    "response": http_hooks.HttpResponseHook,
}


async def one(
    flow: http.HTTPFlow, response: http.Response, addons: AddonManager, spent: dict[str, float]
) -> None:
    """One request's hooks, dispatched by mitmproxy's own addon manager as its proxy server
    does (`handle_lifecycle`: the hook, then an `update`), so what mitmproxy spends walking the
    gateway's addon objects is counted with the hooks themselves."""
    clock = time.process_time
    for name, event in EVENTS.items():
        if name == "responseheaders" and flow.response is None:
            flow.response = response  # the origin's answer (made untimed: it is not ours)
        started = clock()
        await addons.handle_lifecycle(event(flow))
        spent[name] += clock() - started


async def run(addons: AddonManager, urls: list[tuple[str, str]], profile: bool) -> dict[str, float]:
    spent = dict.fromkeys(HOOKS, 0.0)
    flows = [(flow_for(url, host), response_for(url, DISTINCT)) for url, host in urls]
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    for flow, response in flows:
        await one(flow, response, addons, spent)
    if profiler:
        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        print(out.getvalue())
    return {name: seconds / len(urls) * 1e6 for name, seconds in spent.items()}


@contextmanager
def gateway_with(policy: Path, scan: bool) -> Iterator[tuple[Gateway, AddonManager]]:
    """The gateway configured as the gateway benchmark's proxy is, its events in SQLite."""
    database = policy.parent / f"events-{scan}.sqlite"
    upgrade(f"sqlite:///{database}")
    gateway = Gateway()
    with taddons.context(gateway) as tctx:
        tctx.configure(gateway, gateway_policy=str(policy), gateway_page_scan=scan,
                       gateway_database=f"sqlite:///{database}", gateway_context_log_days=7,
                       gateway_reload_interval=0)  # fmt: skip
        yield gateway, tctx.master.addons


def measure(
    policy: Path, urls: list[tuple[str, str]], scan: bool, profile: bool
) -> dict[str, float]:
    with gateway_with(policy, scan) as (gateway, addons):
        # Warm the caches as a running proxy has.
        asyncio.run(run(addons, urls[:200], False))
        gateway.writer.flush(30)
        figures = asyncio.run(run(addons, urls, profile))
        started = time.process_time()
        gateway.writer.flush(30)
        figures["writer (end)"] = (time.process_time() - started) / len(urls) * 1e6
        gateway.writer.close(30)
        return figures


def counted(policy: Path, urls: list[tuple[str, str]], scan: bool) -> None:
    """The requests' hooks inside one `functools.reduce` call, the only call of it while they
    run, so callgrind's `--toggle-collect=functools_reduce` counts exactly them. Called
    directly: `response` finishes without waiting (a page this size is scored inline)."""
    with gateway_with(policy, scan) as (gateway, _):
        flows = [(flow_for(url, host), response_for(url, DISTINCT)) for url, host in urls]

        def request(_: None, pair: tuple[http.HTTPFlow, http.Response]) -> None:
            flow, response = pair
            gateway.requestheaders(flow)
            if flow.response is None:
                flow.response = response
            gateway.responseheaders(flow)
            answer = gateway.response(flow)
            try:
                answer.send(None)
            except StopIteration:
                return
            raise SystemExit("the response hook waited: the count would be incomplete")

        for pair in flows[:200]:  # warm the caches as a running proxy has
            request(None, pair)
        functools.reduce(request, flows[200:], None)
        gateway.writer.close(30)


def count_instructions(args: argparse.Namespace, scan: bool) -> int:
    """Instructions per request on the gateway's thread, from a child run under callgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        argv = [
            valgrind, "--tool=callgrind", "--separate-threads=yes",
            "--toggle-collect=functools_reduce", f"--callgrind-out-file={out}",
            sys.executable, __file__, "--counted", "--domains", str(args.domains),
            "--requests", str(args.requests), "--pages", args.pages, "--code", str(CODE),
        ]  # fmt: skip
        if scan:
            argv.append("--scan")
        # One hash seed, so dictionaries are laid out alike in every run.
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)  # fmt: skip
        main_thread = next(Path(tmp).glob("callgrind.out-01"))
        summary = re.search(r"^summary: (\d+)", main_thread.read_text(), re.MULTILINE)
        assert summary, main_thread
        return int(summary.group(1)) // args.requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--pages", choices=("distinct", "same"), default="distinct",
        help="as bench/gateway_bench.py: every address its own page, or one for all",
    )  # fmt: skip
    parser.add_argument("--code", default=str(ROOT), help="the checkout whose gateway is measured")
    parser.add_argument(
        "--instructions", action="store_true",
        help="count the gateway thread's instructions per request under valgrind (minutes)",
    )  # fmt: skip
    parser.add_argument("--counted", action="store_true", help=argparse.SUPPRESS)  # the child
    parser.add_argument("--scan", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    global DISTINCT
    DISTINCT = args.pages == "distinct"
    rng = random.Random(17)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        domains = make_domains(args.domains, rng)
        watched = domains[: max(1, args.domains // 100)]
        policy = write_policy(folder, domains, watched)
        lines = write_urls(folder, domains, watched, rng).read_text().split("\n")
        urls = [tuple(line.split(" ", 1)) for line in lines if line]
        if args.counted:
            counted(policy, [urls[i % len(urls)] for i in range(200 + args.requests)], args.scan)  # type: ignore[misc]
            return
        if args.instructions:
            print(
                f"{CODE}: {args.domains:,} domains, {args.requests:,} requests, "
                f"{args.pages} pages, instructions per request on the gateway's thread:"
            )
            for scan in (False, True):
                figure = count_instructions(args, scan)
                print(f"page scanning {'on' if scan else 'off':4}{figure:>12,}", flush=True)
            return
        stream = [urls[i % len(urls)] for i in range(args.requests)]
        print(f"{CODE}: {args.domains:,} domains, {len(stream):,} requests, {args.pages} pages,"
              f" CPU µs per request (median of {args.rounds}):")  # fmt: skip
        columns = (*HOOKS, "writer (end)")
        print(f"{'':22}" + "".join(f"{h:>17}" for h in columns) + f"{'total':>10}")
        for scan in (False, True):
            rounds = [measure(policy, stream, scan, args.profile) for _ in range(args.rounds)]  # type: ignore[arg-type]
            figures = {h: statistics.median(r[h] for r in rounds) for h in columns}
            label = f"page scanning {'on' if scan else 'off'}"
            cells = "".join(f"{figures[h]:17.1f}" for h in columns)
            print(f"{label:22}{cells}{sum(figures.values()):10.1f}")


if __name__ == "__main__":
    main()
