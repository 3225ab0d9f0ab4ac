"""Scale-out benchmark: 1 and 2 gateway processes behind HAProxy (TCP mode), one SQLite store.

mitmproxy is single-threaded, so a gateway spreads over cores by running one process per core
(`prevent-monitor proxy --instance N`) behind an existing balancer: HAProxy in TCP mode from
Debian (`deploy/haproxy/prevent-monitor.cfg`). Every process writes its events to the same
embedded SQLite store (WAL, one writer thread each). wrk drives HAProxy with the same URL mix as
bench/gateway_bench.py (97 % ordinary sites, 2 % flagged, 1 % blocked; a 1,000,000-domain
policy by default) at 50 connections. The figures: aggregate req/s at 1 and 2 processes and
their ratio, CPU per request of the gateways, and the CPU of wrk and HAProxy, which share the
two cores of this machine with the gateways.

    .venv/bin/python bench/scaleout_bench.py [--domains 1000000] [--seconds 15]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.gateway_bench import (  # noqa: E402
    ADDON,
    LOOPBACK,
    LUA,
    MITMDUMP,
    ORIGIN,
    PYTHON,
    cpu_seconds,
    free_port,
    run_wrk,
    wait_for,
    wait_for_addons,
    write_policy,
    write_urls,
)
from bench.policy_bench import make_domains  # noqa: E402

HAPROXY_CONFIG = """
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend school_proxy
    bind 127.0.0.1:{port}
    default_backend gateways
backend gateways
    balance leastconn
{servers}
"""


def start_gateways(
    folder: Path, count: int, origin_port: int, policy: Path, database: Path
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    processes, ports = [], []
    for n in range(count):
        port = free_port()
        argv = [
            str(MITMDUMP), "-q", "--listen-host", "127.0.0.1", "-p", str(port),
            "--set", f"confdir={folder / 'conf'}", "--set", "connection_strategy=lazy",
            "-s", str(ADDON), "--set", f"gateway_policy={policy}",
            "--set", f"gateway_database=sqlite:///{database}",
            "--set", "gateway_page_scan=true",
            "--set", f"gateway_status_file={folder / f'status-{n}.json'}",
            "-s", str(LOOPBACK), "--set", f"loopback_port={origin_port}",
        ]  # fmt: skip
        log = (folder / f"gateway-{n}.log").open("wb")
        processes.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT))
        ports.append(port)
    return processes, ports


def start_haproxy(folder: Path, ports: list[int]) -> tuple[subprocess.Popen[bytes], int]:
    front = free_port()
    servers = "\n".join(f"    server gateway{n} 127.0.0.1:{p}" for n, p in enumerate(ports))
    config = folder / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=front, servers=servers))
    process = subprocess.Popen(["haproxy", "-db", "-f", str(config)])
    wait_for(front, process, "haproxy", 30)
    return process, front


def measure(
    folder: Path, count: int, origin_port: int, policy: Path, lua: Path, probe: str,
    args: argparse.Namespace,
) -> dict[str, float]:
    database = folder / "events.sqlite"
    gateways, ports = start_gateways(folder, count, origin_port, policy, database)
    haproxy = None
    try:
        for process, port in zip(gateways, ports, strict=True):
            wait_for(port, process, "mitmdump", 300)
            wait_for_addons(port, probe, 403, timeout=300)
        haproxy, front = start_haproxy(folder, ports)
        run_wrk(front, lua, 3, args.connections)  # warm-up
        before = [cpu_seconds(p.pid) for p in gateways]
        haproxy_before = cpu_seconds(haproxy.pid)
        started = time.monotonic()
        figures = run_wrk(front, lua, args.seconds, args.connections)
        wall = time.monotonic() - started
        used = sum(cpu_seconds(p.pid) - b for p, b in zip(gateways, before, strict=True))
        figures["cpu_ms"] = used * 1000 / figures["requests"]
        figures["gateway_cores"] = used / wall
        figures["haproxy_cores"] = (cpu_seconds(haproxy.pid) - haproxy_before) / wall
        return figures
    finally:
        if haproxy is not None:
            haproxy.terminate()
            haproxy.wait(10)
        for process in gateways:
            process.terminate()
        for process in gateways:
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if shutil.which("haproxy") is None or shutil.which("wrk") is None:
        raise SystemExit("needs haproxy and wrk (apt-get install haproxy wrk)")
    rng = random.Random(4)
    with tempfile.TemporaryDirectory(prefix="scaleout-bench-") as tmp:
        folder = Path(tmp)
        print(f"generating a {args.domains:,}-domain policy ...", flush=True)
        domains = make_domains(args.domains, rng)
        watched = [f"watched{i}.example.net" for i in range(2_000)]
        policy = write_policy(folder, domains, watched)
        urls = write_urls(folder, domains, watched, rng)
        lua = folder / "proxy.lua"
        lua.write_text(LUA % urls)
        from monitor.store.migrate import upgrade

        upgrade(f"sqlite:///{folder / 'events.sqlite'}")
        origin_port = free_port()
        origin = subprocess.Popen([str(PYTHON), "-c", ORIGIN, str(origin_port), "distinct"])
        results = {}
        try:
            wait_for(origin_port, origin, "origin", 30)
            probe = f"http://www.{domains[0]}/"
            for count in (1, 2):
                print(f"{count} gateway process(es) behind HAProxy ...", flush=True)
                results[count] = measure(folder, count, origin_port, policy, lua, probe, args)
        finally:
            origin.terminate()
            origin.wait(10)
        with sqlite3.connect(folder / "events.sqlite") as db:
            stored = db.execute("SELECT coalesce(sum(repeat_count), 0) FROM events").fetchone()[0]
    print()
    print(f"{'processes':>10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}"
          f"{'CPU ms/req':>12}{'gateway cores':>15}{'haproxy cores':>15}")  # fmt: skip
    for count, fig in results.items():
        print(f"{count:>10}{fig['rps']:>10.0f}{fig['p50']:>9.2f}{fig['p99']:>9.2f}"
              f"{fig['non2xx']:>9.0f}{fig['cpu_ms']:>12.3f}{fig['gateway_cores']:>15.2f}"
              f"{fig['haproxy_cores']:>15.2f}")  # fmt: skip
    ratio = results[2]["rps"] / results[1]["rps"]
    print(f"2 processes / 1 process: {ratio:.2f}x (target >= 1.6x on 2 cores; wrk and HAProxy "
          "share those cores)")  # fmt: skip
    print(f"events stored in the one SQLite store: {stored} flagged/blocked requests")


if __name__ == "__main__":
    main()
