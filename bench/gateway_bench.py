"""Gateway benchmark (issue #4): mitmdump without the addon vs with it, through wrk.

Both runs put the same local origin (aiohttp on 127.0.0.1, an 8 KB HTML page) behind mitmdump,
with `tests/gateway/loopback.py` sending every upstream to it, and drive the proxy with wrk at
50 concurrent connections from loopback (absolute-URL requests from a Lua script). The second
run adds the gateway addon with a 1,000,000-domain policy, phrase scanning on and events written
to SQLite (2 % of requests are to flagged sites, 1 % to blocked ones). Prints requests/s and
p50/p99 latency for each and the ratios; p50/p99 at one connection (the time a request spends in
the proxy without queueing: at 50 connections on a saturated single-threaded proxy p50 is mostly
the queue, ~connections / rate, so "added p50" there follows the throughput ratio); and
mitmdump's CPU time per request, which is what sets throughput on a dedicated core and moves far
less than requests/s when other work shares the machine. The host-only context log
(`gateway_context_log_days`, on by default) is measured too: the addon with page scanning on,
with the log off and on, and the ratio of the two. Each run starts measuring only once
the addon answers (mitmdump listens before its scripts have loaded the policy). Every
configuration runs `--rounds` times, interleaved in a rotating order, and each figure printed is
the median of its rounds.

    .venv/bin/python bench/gateway_bench.py [--domains 1000000] [--seconds 15] [--connections 50]
        [--pages distinct|same] [--rounds 3] [--code DIR]

The origin serves every address its own page by default (`--pages distinct`: the gateway keeps
pages already scored, and one page for every address would measure that cache, not scoring);
`--pages same` measures a class loading one page.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.policy_bench import SHIPPED, WORDS, make_domains  # noqa: E402
from monitor.store.migrate import upgrade  # noqa: E402

MITMDUMP = ROOT / ".venv" / "bin" / "mitmdump"
PYTHON = ROOT / ".venv" / "bin" / "python"
# The gateway measured: this checkout's, or another one's named by --code (a `git worktree` of
# an older commit), so figures before and after a change come from one run of this script.
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv else ROOT
ADDON = CODE / "monitor" / "gateway" / "addon.py"
LOOPBACK = ROOT / "tests" / "gateway" / "loopback.py"

ORIGIN = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    words = "the school library opens at nine and the maths club meets on tuesday ".split()
    body = "<html><head><title>News</title></head><body>" + "".join(
        f"<p>{' '.join(words[(i + j) % len(words)] for j in range(12))}</p>" for i in range(100)
    ) + "</body></html>"
    distinct = sys.argv[2] == "distinct"
    async def page(request):
        # "distinct": every address its own page (each one scored afresh, the worst case);
        # "same": one page for all (a class loading the page its teacher linked).
        text = body.replace("</body>", f"<p>{request.path_qs}</p></body>") if distinct else body
        return web.Response(text=text, content_type="text/html")
    app = web.Application()
    app.router.add_get("/{tail:.*}", page)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
    """
)

LUA = textwrap.dedent(
    """
    local urls, hosts, i = {}, {}, 0
    for line in io.lines("%s") do
      local url, host = line:match("^(%%S+) (%%S+)$")
      urls[#urls + 1] = url
      hosts[#hosts + 1] = host
    end
    request = function()
      i = i %% #urls + 1
      return wrk.format("GET", urls[i], {["Host"] = hosts[i]})
    end
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited early ({process.returncode})")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise SystemExit(f"{what} did not listen on {port} within {timeout:.0f} s")


def write_policy(folder: Path, domains: list[str], watched: list[str]) -> Path:
    (folder / "bench.domains").write_text("\n".join(domains) + "\n")
    (folder / "watch.domains").write_text("\n".join(watched) + "\n")
    policy = folder / "policy.yaml"
    policy.write_text(
        "school: Benchmark Academy\n"
        "categories:\n  extremism: {severity: high, action: block}\n"
        "  watchlist: {severity: low, action: flag}\n"
        "  proscribed: {severity: medium, action: flag}\n"
        "  extremist-language: {severity: high, action: flag}\n"
        "lists:\n  - {file: bench.domains, category: extremism}\n"
        "  - {file: watch.domains, category: watchlist}\n"
        f"list_folders: [{SHIPPED}]\n"
        f"search_terms:\n  - {{file: {SHIPPED}/proscribed-organisations.yaml, "
        "category: proscribed}\n"
        f"page_phrases:\n  - {{file: {SHIPPED}/local/page-phrases.weighted, "
        "category: extremist-language}\n"
        f"allowlist:\n  - {{file: {SHIPPED}/study-allowlist.yaml}}\n"
        "groups:\n  pupils: {}\ndefault_group: pupils\n"
    )
    return policy


def write_urls(folder: Path, domains: list[str], watched: list[str], rng: random.Random) -> Path:
    """97 % ordinary sites (a few popular, a long tail), 2 % flagged, 1 % blocked."""
    clean = [f"www.{rng.choice(WORDS)}{i}.example.org" for i in range(5_000)]
    weights = [1 / (rank + 1) for rank in range(len(clean))]
    lines = []
    for _ in range(20_000):
        roll = rng.random()
        if roll < 0.01:
            host = "www." + rng.choice(domains)
        elif roll < 0.03:
            host = rng.choice(watched)
        else:
            host = rng.choices(clean, weights=weights)[0]
        path = "/".join(rng.choice(WORDS) for _ in range(rng.randrange(1, 4)))
        lines.append(f"http://{host}/{path} {host}")
    file = folder / "urls.txt"
    file.write_text("\n".join(lines) + "\n")
    return file


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(port: int, lua: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
            "-s", str(lua), f"http://127.0.0.1:{port}",
        ],
        capture_output=True, text=True, check=True,
    ).stdout
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    figures["requests"] = float(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    for label, key in (("50%", "p50"), ("99%", "p99")):
        match = re.search(rf"^\s+{re.escape(label)}\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        assert match, out
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
        figures[key] = float(match.group(1)) * scale
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non2xx"] = float(errors.group(1)) if errors else 0.0
    socket_errors = re.search(r"Socket errors: (.*)", out)
    if socket_errors:
        print(f"    wrk socket errors: {socket_errors.group(1)}")
    return figures


def wait_for_addons(port: int, probe: str, status: int, timeout: float) -> None:
    """mitmdump listens before its scripts are loaded (the gateway's policy takes a few
    seconds): wait until `probe` through the proxy answers `status`, so no run measures a
    half-started proxy."""
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"http": f"http://127.0.0.1:{port}"})
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = opener.open(probe, timeout=10).status
        except urllib.error.HTTPError as exc:
            got = exc.code
        except OSError:
            got = 0
        if got == status:
            return
        time.sleep(0.2)
    raise SystemExit(f"the proxy did not answer {probe} with {status} within {timeout:.0f} s")


def run_proxy(
    folder: Path,
    origin_port: int,
    lua: Path,
    args: argparse.Namespace,
    extra: list[str],
    probe: tuple[str, int],
) -> dict[str, float]:
    port = free_port()
    argv = [str(MITMDUMP), "-q", "--listen-host", "127.0.0.1", "-p", str(port)]
    argv += ["--set", f"confdir={folder / 'conf'}", "--set", "connection_strategy=lazy"]
    argv += [*extra, "-s", str(LOOPBACK), "--set", f"loopback_port={origin_port}"]
    log = (folder / f"mitmdump-{port}.log").open("wb")
    env = {**os.environ, "PYTHONPATH": str(CODE)}  # the addon's own packages, not ours
    proxy = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=CODE, env=env)
    try:
        started = time.perf_counter()
        wait_for(port, proxy, "mitmdump", 300)
        wait_for_addons(port, *probe, timeout=300)
        print(f"    proxy ready in {time.perf_counter() - started:.1f} s")
        run_wrk(port, lua, 3, args.connections)  # warm-up
        cpu_before = cpu_seconds(proxy.pid)
        figures = run_wrk(port, lua, args.seconds, args.connections)
        # CPU per request is what decides throughput on a dedicated core; it moves much less
        # than requests/s when other work shares the machine.
        figures["cpu_ms"] = (cpu_seconds(proxy.pid) - cpu_before) * 1000 / figures["requests"]
        # One connection: the time a request spends in the proxy when it does not queue
        # behind 49 others (at 50 connections p50 is mostly queueing: ~connections / rate).
        single = run_wrk(port, lua, max(3, args.seconds // 3), 1)
        figures["p50_1"], figures["p99_1"] = single["p50"], single["p99"]
        return figures
    finally:
        proxy.terminate()
        proxy.wait(30)


LABELS = {
    "bare": "bare mitmdump",
    "no_scan": "mitmdump + gateway addon, page scanning off",
    "no_context": "mitmdump + gateway addon (page scanning on, context log 0 days)",
    "gateway": "mitmdump + gateway addon (page scanning on, context log 7 days)",
}


def median_figures(runs: list[dict[str, float]]) -> dict[str, float]:
    """Each figure's median over the rounds (the machine is shared: one run can be an outlier)."""
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each; medians are shown")
    parser.add_argument("--code", default=str(ROOT), help="the checkout whose gateway is measured")
    parser.add_argument(
        "--pages", choices=("distinct", "same"), default="distinct",
        help="distinct: every address its own page (each scored); same: one page for all",
    )  # fmt: skip
    args = parser.parse_args()
    rng = random.Random(4)
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        folder = Path(tmp)
        print(f"generating a {args.domains:,}-domain policy ...")
        domains = make_domains(args.domains, rng)
        watched = [f"watched{i}.example.net" for i in range(2_000)]
        policy = write_policy(folder, domains, watched)
        urls = write_urls(folder, domains, watched, rng)
        lua = folder / "proxy.lua"
        lua.write_text(LUA % urls)
        origin_port = free_port()
        origin = subprocess.Popen([str(PYTHON), "-c", ORIGIN, str(origin_port), args.pages])
        try:
            wait_for(origin_port, origin, "origin", 30)
            allowed = ("http://www.allowed.example.org/", 200)
            blocked = (f"http://www.{domains[0]}/", 403)
            database = folder / "events.sqlite"
            upgrade(f"sqlite:///{database}")  # the gateway opens a store, it never migrates one
            addon = [
                "-s", str(ADDON),
                "--set", f"gateway_policy={policy}",
                "--set", f"gateway_database=sqlite:///{database}",
                "--set", "gateway_reload_interval=5",
            ]  # fmt: skip
            scan = ["--set", "gateway_page_scan=true"]
            configs: dict[str, tuple[list[str], tuple[str, int]]] = {
                "bare": ([], allowed),
                "no_scan": ([*addon, "--set", "gateway_page_scan=false"], blocked),
                # the host-only context log off, then on (the default)
                "no_context": ([*addon, *scan, "--set", "gateway_context_log_days=0"], blocked),
                "gateway": ([*addon, *scan, "--set", "gateway_context_log_days=7"], blocked),
            }
            results: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
            names = list(configs)
            for round_ in range(args.rounds):
                # Each round in another order, so a machine that slows or speeds up over the
                # run does not favour whichever configuration always came first.
                order = names[round_ % len(names) :] + names[: round_ % len(names)]
                for name in order:
                    print(f"round {round_ + 1}: {LABELS[name]}:")
                    extra, probe = configs[name]
                    results[name].append(run_proxy(folder, origin_port, lua, args, extra, probe))
            bare, no_scan, no_context, gateway = (
                median_figures(results[name]) for name in names
            )
        finally:
            origin.terminate()
            origin.wait(10)
        with sqlite3.connect(database) as db:
            events, repeats = db.execute(
                "SELECT count(*), coalesce(sum(repeat_count), 0) FROM events"
            ).fetchone()
            context_rows, context_requests = db.execute(
                "SELECT count(*), coalesce(sum(requests), 0) FROM context_log"
            ).fetchone()
    print()
    print(
        f"{'':28}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'non-2xx':>10}"
        f"{'1-conn p50':>12}{'1-conn p99':>12}{'CPU ms/req':>12}"
    )
    table = (
        ("bare mitmdump", bare),
        ("addon, no page scanning", no_scan),
        ("addon, scanning, no context", no_context),
        ("addon, scanning, context on", gateway),
    )
    for name, fig in table:
        print(
            f"{name:28}{fig['rps']:>10.0f}{fig['p50']:>10.2f}{fig['p99']:>10.2f}"
            f"{fig['non2xx']:>10.0f}{fig['p50_1']:>12.2f}{fig['p99_1']:>12.2f}"
            f"{fig['cpu_ms']:>12.3f}"
        )
    print(
        f"without page scanning: {no_scan['rps'] / bare['rps']:.1%} of bare, "
        f"p50 {no_scan['p50'] - bare['p50']:+.2f} ms"
    )
    print(
        "mitmdump CPU per request: addon without page scanning "
        f"{no_scan['cpu_ms'] / bare['cpu_ms']:.0%}"
        f", with page scanning {gateway['cpu_ms'] / bare['cpu_ms']:.0%} of bare "
        f"(throughput on a dedicated core: {bare['cpu_ms'] / gateway['cpu_ms']:.1%} of bare)"
    )
    ratio = gateway["rps"] / bare["rps"]
    print(f"throughput ratio: {ratio:.1%} of bare mitmdump (target >= 95 %)")
    print(f"added p50: {gateway['p50'] - bare['p50']:+.2f} ms (target <= 2 ms)")
    print(f"added p99: {gateway['p99'] - bare['p99']:+.2f} ms")
    print(
        f"at one connection (no queueing): added p50 {gateway['p50_1'] - bare['p50_1']:+.2f} ms "
        f"(without page scanning {no_scan['p50_1'] - bare['p50_1']:+.2f} ms), "
        f"added p99 {gateway['p99_1'] - bare['p99_1']:+.2f} ms"
    )
    print(f"events stored: {events} rows covering {repeats} flagged/blocked requests")
    print(
        f"context log: on {gateway['rps']:.0f} req/s, {gateway['cpu_ms']:.3f} CPU ms/req; "
        f"off {no_context['rps']:.0f} req/s, {no_context['cpu_ms']:.3f} CPU ms/req; "
        f"on/off throughput {gateway['rps'] / no_context['rps']:.1%}, "
        f"CPU per request {gateway['cpu_ms'] / no_context['cpu_ms']:.1%}; "
        f"{context_rows} rows covering {context_requests} requests"
    )


if __name__ == "__main__":
    main()
